import type { MaybePromise } from '../../core/ledger-store.interface.js';
import { andThen, isPromise } from '../../core/maybe-promise.js';
import { shallowCopy } from '../../core/shallow-copy.js';
import { type PlannedCall, planCall } from '../../metering/call.planner.js';
import type { RequestBody } from '../../metering/provider-endpoint.interface.js';
import { fallbackCall } from './fallback.call.js';
import { type FetchHandoff, sendWatched } from './fetch-handoff.tracker.js';
import { memo, MeteredAPIPromise } from './metered-api-promise.js';
import type {
  ApiPromiseLike,
  Invoke,
  RequestOptionsLike,
  SdkCallSettings,
  StartedCall,
} from './sdk-call.types.js';
import { SdkCall } from './sdk.call.js';
import { pause } from './sdk-retry.policy.js';

// The glue between the metered call (lib/metering) and the SDKs Stainless generates (`openai`,
// `@anthropic-ai/sdk`): both return an `APIPromise` and a `Stream` with the same public methods.
export type {
  ApiPromiseLike,
  Invoke,
  RequestOptionsLike,
  SdkCallSettings,
} from './sdk-call.types.js';

// A promise the caller dropped unread is settled when it is garbage collected.
const unread = new FinalizationRegistry<() => void>((cleanup) => cleanup());

/**
 * Runs one metered SDK call: plans it (policies, reservation, clamp) before anything is sent,
 * sends the planned request through `invoke`, and settles the reservation exactly once however
 * the caller reads the result (`await`, `.withResponse()`, `.asResponse()`, a stream, or never).
 * Planning and sending happen before this returns when nothing has to be waited for (the
 * in-memory store, no SDK retries); an error is only ever seen by whoever reads the promise.
 */
export function meteredCreate(
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MeteredAPIPromise<unknown> {
  let started: MaybePromise<StartedCall>;
  try {
    started = startCall(settings, invoke, body, options);
  } catch (error) {
    started = Promise.reject(error);
  }
  let read = false;
  const reading =
    <T>(fn: (call: StartedCall) => Promise<T>) =>
    () => {
      read = true;
      return isPromise(started) ? started.then(fn) : fn(started);
    };
  const promise = new MeteredAPIPromise<unknown>({
    parse: memo(reading((call) => call.parse())),
    response: reading((call) => call.response()),
    rawForCaller: reading((call) => call.rawForCaller()),
    responseProps: reading((call) => call.responseProps()),
  });
  registerIfUnread(started, promise, () => read);
  return promise;
}

// V8 clears FinalizationRegistry targets only in full GCs, so registering every call keeps each
// request and response alive through young-generation GCs (bench: half the per-call overhead).
// Almost every caller awaits at once; only a promise still unread once its request has been
// answered is registered, and the cleanup checks `isRead` again, so a late reader is never
// charged twice. The rejection handler keeps Node from reporting a failed start as unhandled when
// nobody reads it. In functions of their own so no cleanup closure can reach (and so keep alive)
// the promise.
function registerIfUnread(
  started: MaybePromise<StartedCall>,
  promise: object,
  isRead: () => boolean,
): void {
  const register = (call: StartedCall) =>
    call.whenAnswered(() => {
      if (!isRead()) unread.register(promise, cleanupOf(call, isRead));
    });
  if (isPromise(started)) started.then(register, () => {});
  else register(started);
}

function cleanupOf(call: StartedCall, isRead: () => boolean): () => void {
  return () => {
    if (!isRead()) call.abandon();
  };
}

/** The first attempt, then as many more as the SDK would have retried (its own retries are off). */
function startCall(
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MaybePromise<StartedCall> {
  const { policy } = settings;
  const retries = policy.retries(options);
  const first = startAttempt(settings, invoke, body, options);
  if (retries === 0) return first;
  return andThen(first, (started) => retried(started, settings, invoke, body, options, retries));
}

async function retried(
  first: StartedCall,
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
  retries: number,
): Promise<StartedCall> {
  const { policy } = settings;
  let started = first;
  for (let attempt = 0; ; attempt++) {
    if (attempt >= retries || !(started instanceof SdkCall)) return started;
    const error = await started.failure();
    if (error === undefined || !policy.retryable(error)) return started;
    // This attempt is over: settled on its own before the next one reserves again.
    await started.settleFailure(error);
    await pause(policy.delayMs(error, attempt + 1, retries), options?.signal);
    if (options?.signal?.aborted) throw policy.abortError();
    started = await startAttempt(settings, invoke, body, options);
  }
}

/**
 * One attempt: planned (policies, reservation, clamp) and sent with the SDK's own retries off, so
 * each request the provider may bill has a reservation of its own.
 */
function startAttempt(
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MaybePromise<StartedCall> {
  return andThen(planCall(settings, settings.endpoint, body), (planned) =>
    send(planned, settings, invoke, options),
  );
}

function send(
  planned: PlannedCall,
  settings: SdkCallSettings,
  invoke: Invoke,
  options: RequestOptionsLike | undefined,
): MaybePromise<StartedCall> {
  if (planned.kind === 'fallback') return fallbackCall(planned.data, planned.budget.scope);
  const { call } = planned;
  const requestOptions = shallowCopy(options);
  requestOptions.maxRetries = 0;
  let abort: AbortController | undefined;
  if (call.plan.stream) {
    // Lets the wrapper stop a stream whose raw body the caller reads through asResponse().
    abort = new AbortController();
    const signal = options?.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    requestOptions.signal = signal;
  }
  // A signal aborted already, or before the SDK hands the request to fetch, sends nothing: released.
  const sentAborted = options?.signal?.aborted === true;
  let sent: { result: ApiPromiseLike<unknown>; handoff: FetchHandoff };
  try {
    sent = sendWatched(settings.fetchWatched, () => invoke(planned.body, requestOptions));
  } catch (error) {
    return call.release().then(() => {
      throw error;
    });
  }
  const { result: real, handoff } = sent;
  const mayHaveLeft = () => !sentAborted && handoff.fetched;
  return new SdkCall(settings.client, call, real, abort, settings.policy, mayHaveLeft);
}
