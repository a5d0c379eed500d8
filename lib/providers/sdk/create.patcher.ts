import type { MeteringContext } from '../../metering/call.planner.js';
import type { ProviderEndpoint, RequestBody } from '../../metering/provider-endpoint.interface.js';
import {
  type ApiPromiseLike,
  type Invoke,
  meteredCreate,
  type RequestOptionsLike,
} from './metered-create.js';

/** The metering context of a call about to be made, or `undefined` to pass it through unmetered. */
export type ContextResolver = () => MeteringContext | undefined;

type Create = ((body: RequestBody, options?: RequestOptionsLike) => ApiPromiseLike<unknown>) & {
  [marker: symbol]: true | undefined;
};

/**
 * Replaces `resource.create` (on the instance only) with a metered one, marked with `marker` so
 * wrapping twice meters once. A call whose `contextOf()` is `undefined` (no budget open), or whose
 * body is not an object, goes to the original method untouched.
 */
export function patchCreate(
  resource: unknown,
  endpoint: ProviderEndpoint,
  contextOf: ContextResolver,
  client: unknown,
  marker: symbol,
): void {
  const target = resource as { create?: unknown } | null | undefined;
  const original = target?.create as Create | undefined;
  if (!target || typeof original !== 'function' || original[marker]) return;
  const invoke: Invoke = (body, options) => original.call(target, body, options);
  const create = function (body: RequestBody, options?: RequestOptionsLike) {
    const context = typeof body === 'object' && body !== null ? contextOf() : undefined;
    if (!context) return invoke(body, options);
    return meteredCreate({ ...context, endpoint, client }, invoke, body, options);
  } as Create;
  create[marker] = true;
  Object.defineProperty(target, 'create', { value: create, configurable: true, writable: true });
}
