import { AsyncLocalStorage } from 'node:async_hooks';

// Between `create()` and `fetch()` the SDK awaits the options, builds and prepares the request
// (several turns of the event loop's microtask queue): an abort in that window ("Stop" clicked, a
// client gone) ends the call before anything left the process. The SDK's error for it is the
// same as for an abort after the request left, so the wrapper watches the client's `fetch`
// instead: an attempt whose request never reached it was billed nothing.

/** Whether one attempt's request was handed to `fetch` (and so may have reached the provider). */
export interface FetchHandoff {
  fetched: boolean;
}

const attempts = new AsyncLocalStorage<FetchHandoff>();
const TRACKED = Symbol.for('tokencap.sdk.fetchTracked');

type Fetch = ((...args: unknown[]) => unknown) & { [TRACKED]?: true };

/**
 * Makes the client's `fetch` (the one both Stainless SDKs call for every request, read at send
 * time) mark the attempt it runs for; one set later is marked too. Returns whether it could: a
 * client without an own `fetch` function is not watched, and its attempts count as handed off
 * (fail closed).
 */
export function trackFetch(client: unknown): boolean {
  if (typeof client !== 'object' || client === null) return false;
  const descriptor = Object.getOwnPropertyDescriptor(client, 'fetch');
  if (!descriptor) return false;
  if (descriptor.get && (descriptor.get as Fetch)[TRACKED]) return true;
  if (typeof descriptor.value !== 'function' || !descriptor.configurable) return false;
  let current = tracked(descriptor.value as Fetch);
  const get = function () {
    return current;
  } as (() => Fetch) & { [TRACKED]?: true };
  get[TRACKED] = true;
  Object.defineProperty(client, 'fetch', {
    get,
    set(value: unknown) {
      current = typeof value === 'function' ? tracked(value as Fetch) : (value as Fetch);
    },
    configurable: true,
    enumerable: descriptor.enumerable,
  });
  return true;
}

/**
 * Runs `send` (which starts one attempt's request) with a fresh {@link FetchHandoff} that the
 * tracked `fetch` marks. With `watched` false, the handoff says fetched from the start.
 */
export function sendWatched<T>(
  watched: boolean,
  send: () => T,
): { result: T; handoff: FetchHandoff } {
  const handoff: FetchHandoff = { fetched: !watched };
  return { result: watched ? attempts.run(handoff, send) : send(), handoff };
}

function tracked(fetch: Fetch): Fetch {
  if (fetch[TRACKED]) return fetch;
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const handoff = attempts.getStore();
    if (handoff) handoff.fetched = true;
    return fetch.apply(this, args);
  } as Fetch;
  wrapper[TRACKED] = true;
  return wrapper;
}
