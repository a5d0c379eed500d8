import { UnmeteredCallError, type UnmeteredCallReason } from '../../errors.js';

/**
 * Counts, per client, the metered calls in the middle of sending: the SDK's resource method calls
 * `client.post()` synchronously, so a request made while the count is above 0 is the wrapper's own.
 */
export interface SendingDepth {
  value: number;
}

type RequestMethod = ((options: unknown, ...rest: unknown[]) => unknown) & {
  [marker: symbol]: true | undefined;
};

/**
 * Guards the client's low-level `request()` (which `post()`, `get()` and every resource method
 * reach): a billable request (`billable` matches its method and path) made outside the wrapper's
 * metered methods is refused with {@link UnmeteredCallError} when `refusal()` names a reason (a
 * budget is open: `unmetered-endpoint`; none is and the wrapper refuses calls outside budgets:
 * `no-budget`). Nothing is sent: the SDK awaits the options
 * before anything else, and they reject.
 */
export function guardRawRequests(
  client: unknown,
  depth: SendingDepth,
  billable: (method: string, path: string) => boolean,
  refusal: () => UnmeteredCallReason | undefined,
  where: string,
  marker: symbol,
): void {
  const target = client as { request?: unknown };
  const original = target.request as RequestMethod | undefined;
  if (typeof original !== 'function' || original[marker]) return;
  const request = function (this: unknown, options: unknown, ...rest: unknown[]) {
    // Read now: the budget context and the depth belong to the caller's synchronous turn.
    const reason = depth.value > 0 ? undefined : refusal();
    if (!reason) return original.call(this, options, ...rest);
    const checked = Promise.resolve(options).then((resolved) => {
      const { method, path } = (resolved ?? {}) as { method?: unknown; path?: unknown };
      const route = typeof path === 'string' ? path.split('?')[0] : '';
      if (billable(String(method ?? '').toLowerCase(), route)) {
        throw new UnmeteredCallError(reason, route, where);
      }
      return resolved;
    });
    return original.call(this, checked, ...rest);
  } as RequestMethod;
  request[marker] = true;
  Object.defineProperty(client, 'request', { value: request, configurable: true, writable: true });
}
