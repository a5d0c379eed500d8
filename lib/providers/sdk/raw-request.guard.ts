import { UnmeteredCallError, type UnmeteredCallReason } from '../../errors.js';

/**
 * Counts, per client, the metered calls in the middle of sending: the SDK's resource method calls
 * `client.post()` synchronously, so a request made while the count is above 0 is the wrapper's own.
 */
export interface SendingDepth {
  value: number;
}

type SdkMethod = ((options: unknown, ...rest: unknown[]) => unknown) & {
  [marker: symbol]: true | undefined;
};

/**
 * Guards the client's `makeRequest()`, the one step every request of a Stainless-generated SDK
 * (`openai`, `@anthropic-ai/sdk`) goes through: `request()`, `post()` and every resource method,
 * and also `getAPIList()` and `requestAPIList()`, which skip `request()`. A billable request
 * (`billable` matches its method and path) that is not the wrapper's own is refused with
 * {@link UnmeteredCallError} when `refusal()` names a reason (a budget is open:
 * `unmetered-endpoint`; none is and the wrapper refuses calls outside budgets: `no-budget`).
 * Nothing is sent: the SDK awaits the options before anything else, and they reject. A client
 * without `makeRequest()` has its `request()` guarded instead.
 */
export function guardRawRequests(
  client: unknown,
  depth: SendingDepth,
  billable: (method: string, path: string) => boolean,
  refusal: () => UnmeteredCallReason | undefined,
  where: string,
  marker: symbol,
): void {
  const target = client as { request?: unknown; makeRequest?: unknown };
  const request = target.request as SdkMethod | undefined;
  const makeRequest = target.makeRequest as SdkMethod | undefined;
  if (typeof request !== 'function' || request[marker]) return;
  // The wrapper's own requests, by their resolved options object: `request()` is reached
  // synchronously from a metered method (depth above 0), but `makeRequest()` may be reached a few
  // awaits later (an SDK that resolves the options or opens a span first), when depth is back to 0.
  const own = new WeakSet<object>();
  const refuse = (options: unknown, reason: UnmeteredCallReason): Promise<unknown> =>
    Promise.resolve(options).then((resolved) => {
      if (typeof resolved === 'object' && resolved !== null && own.has(resolved)) return resolved;
      const { method, path } = (resolved ?? {}) as { method?: unknown; path?: unknown };
      const verb = String(method ?? '').toLowerCase();
      const given = typeof path === 'string' ? path : '';
      if (routesOf(client, given).some((route) => billable(verb, route))) {
        throw new UnmeteredCallError(reason, given.split('?')[0], where);
      }
      return resolved;
    });
  if (typeof makeRequest !== 'function') {
    define(client, 'request', marker, function (this: unknown, options, ...rest) {
      // Read now: the depth belongs to the caller's synchronous turn.
      const reason = depth.value > 0 ? undefined : refusal();
      return request.call(this, reason ? refuse(options, reason) : options, ...rest);
    });
    return;
  }
  define(client, 'request', marker, function (this: unknown, options, ...rest) {
    if (depth.value === 0) return request.call(this, options, ...rest);
    const marked = Promise.resolve(options).then((resolved) => {
      if (typeof resolved === 'object' && resolved !== null) own.add(resolved);
      return resolved;
    });
    return request.call(this, marked, ...rest);
  });
  define(client, 'makeRequest', marker, function (this: unknown, options, ...rest) {
    // The third argument names the attempt a retry repeats (or a 401 refresh replays): the SDK
    // sends it again only after this guard let the first attempt through.
    const retry = rest[1] !== undefined;
    const reason = retry || depth.value > 0 ? undefined : refusal();
    return makeRequest.call(this, reason ? refuse(options, reason) : options, ...rest);
  });
}

function define(
  client: unknown,
  name: 'request' | 'makeRequest',
  marker: symbol,
  method: (this: unknown, options: unknown, ...rest: unknown[]) => unknown,
): void {
  (method as SdkMethod)[marker] = true;
  Object.defineProperty(client, name, { value: method, configurable: true, writable: true });
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
