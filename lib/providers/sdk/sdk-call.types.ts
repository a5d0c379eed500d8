import type { MeteringContext } from '../../metering/call.planner.js';
import type { ProviderEndpoint, RequestBody } from '../../metering/provider-endpoint.interface.js';
import type { PromiseSource } from './metered-api-promise.js';
import type { SdkRetryPolicy } from './sdk-retry.policy.js';

/** The parts of the SDK's `APIPromise` the wrapper uses; all are public methods. */
export interface ApiPromiseLike<T> extends PromiseLike<T> {
  asResponse(): Promise<Response>;
  _responseProps?(): PromiseLike<unknown>;
  _thenUnwrap?<U>(transform: (data: T, props: unknown) => U): ApiPromiseLike<U>;
}

/** The SDK's per-request options, as far as the wrapper touches them. */
export type RequestOptionsLike = { signal?: AbortSignal | null } & Record<string, unknown>;

/** Calls the original method of the resource. */
export type Invoke = (
  body: RequestBody,
  options: RequestOptionsLike | undefined,
) => ApiPromiseLike<unknown>;

/** Everything one metered SDK call needs besides its arguments. */
export interface SdkCallSettings extends MeteringContext {
  readonly endpoint: ProviderEndpoint;
  /** The client, handed to the metered `Stream` as the SDK does. */
  readonly client: unknown;
  /** The client's retry rules, which the wrapper applies itself. */
  readonly policy: SdkRetryPolicy;
  /** Whether the client's `fetch` is watched (see `trackFetch`), so an abort before it is seen. */
  readonly fetchWatched: boolean;
}

/** A metered SDK call once started: what its promise reads, however the caller reads it. */
export interface StartedCall extends PromiseSource<unknown> {
  /**
   * Runs `fn` once the attempt has its answer (a response, or a failure to get one), at once if
   * it already has one; a call that sends nothing runs nothing.
   */
  whenAnswered(fn: () => void): void;
  /** Settles a call whose promise was dropped without ever being read. */
  abandon(): void;
}
