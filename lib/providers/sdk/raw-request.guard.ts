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
      const verb = String(method ?? '').toLowerCase();
      const given = typeof path === 'string' ? path : '';
      if (routesOf(client, given).some((route) => billable(verb, route))) {
        throw new UnmeteredCallError(reason, given.split('?')[0], where);
      }
      return resolved;
    });
    return original.call(this, checked, ...rest);
  } as RequestMethod;
  request[marker] = true;
  Object.defineProperty(client, 'request', { value: request, configurable: true, writable: true });
}

/**
 * The routes a request path may reach, to match against the billable ones: the path of the URL the
 * SDK builds from it (an absolute URL as given, else the client's `baseURL` joined with it; `.` and
 * `..` segments removed, as `new URL` does), with escaped unreserved characters decoded, repeated
 * and trailing slashes dropped and letters lower-cased (a server may read any of these as the same
 * route), and every tail of it, so a prefix (a proxy's, the base URL's `/v1`) hides nothing.
 */
export function routesOf(client: unknown, path: string): string[] {
  const base = (client as { baseURL?: unknown } | null)?.baseURL;
  let pathname = path.split(/[?#]/)[0];
  try {
    const url = /^[a-z][a-z\d+\-.]*:/i.test(path)
      ? new URL(path)
      : new URL(
          typeof base === 'string'
            ? base + (base.endsWith('/') && path.startsWith('/') ? path.slice(1) : path)
            : new URL(path, 'http://localhost/').href,
        );
    pathname = url.pathname;
  } catch {
    // The SDK cannot build this URL either: nothing is sent. The path is matched as given.
  }
  const route = pathname
    .replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
      const char = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(char) ? char : escape;
    })
    .toLowerCase()
    .replace(/\/{2,}/g, '/')
    .replace(/\/+$/, '');
  const routes = [route];
  for (let i = route.indexOf('/', 1); i > 0; i = route.indexOf('/', i + 1)) {
    routes.push(route.slice(i));
  }
  return routes;
}
