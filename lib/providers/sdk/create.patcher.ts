import { UnmeteredCallError } from '../../errors.js';
import type { MeteringContext } from '../../metering/call.planner.js';
import type { ProviderEndpoint, RequestBody } from '../../metering/provider-endpoint.interface.js';
import {
  type ApiPromiseLike,
  type Invoke,
  meteredCreate,
  type RequestOptionsLike,
  type SdkCallSettings,
} from './metered-create.js';
import { trackFetch } from './fetch-handoff.tracker.js';
import type { SendingDepth } from './raw-request.guard.js';
import { SdkRetryPolicy } from './sdk-retry.policy.js';

/** The metering context of a call about to be made, or `undefined` to pass it through unmetered. */
export type ContextResolver = () => MeteringContext | undefined;

/** What every patched method of one client shares. */
export interface PatchSettings {
  readonly contextOf: ContextResolver;
  /** Set while a patched method sends, so the raw-request guard lets its own request through. */
  readonly depth: SendingDepth;
  /** Refuse calls made with no budget open (`outsideBudget: 'refuse'`) instead of passing them through. */
  readonly refuseOutside: boolean;
  /** Names the wrapper in errors. */
  readonly where: string;
}

type Create = ((body: RequestBody, options?: RequestOptionsLike) => ApiPromiseLike<unknown>) & {
  [marker: symbol]: true | undefined;
};

/**
 * Replaces `resource.create` (on the instance only) with a metered one, marked with `marker` so
 * wrapping twice meters once. A call whose `contextOf()` is `undefined` (no budget open), or whose
 * body is not an object, goes to the original method untouched, unless `refuseOutside` refuses it.
 */
export function patchCreate(
  resource: unknown,
  endpoint: ProviderEndpoint,
  settings: PatchSettings,
  client: unknown,
  marker: symbol,
): void {
  const target = resource as { create?: unknown } | null | undefined;
  const original = target?.create as Create | undefined;
  if (!target || typeof original !== 'function' || original[marker]) return;
  const { contextOf, depth } = settings;
  const policy = new SdkRetryPolicy(client);
  const fetchWatched = trackFetch(client);
  const invoke: Invoke = (body, options) => {
    depth.value += 1;
    try {
      return original.call(target, body, options);
    } finally {
      depth.value -= 1;
    }
  };
  const create = function (body: RequestBody, options?: RequestOptionsLike) {
    const context = typeof body === 'object' && body !== null ? contextOf() : undefined;
    if (!context && settings.refuseOutside) {
      throw new UnmeteredCallError('no-budget', `${endpoint.name}.create`, settings.where);
    }
    if (!context) return invoke(body, options);
    // Field by field: a spread followed by more fields is slow under Node 20 (see shallowCopy).
    const call: SdkCallSettings = {
      frame: context.frame,
      catalog: context.catalog,
      defaultMaxOutputTokens: context.defaultMaxOutputTokens,
      endpoint,
      client,
      policy,
      fetchWatched,
    };
    return meteredCreate(call, invoke, body, options);
  } as Create;
  create[marker] = true;
  Object.defineProperty(target, 'create', { value: create, configurable: true, writable: true });
}
