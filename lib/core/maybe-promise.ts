import type { MaybePromise } from './ledger-store.interface.js';

// One code path for answers that may or may not be promises. The in-memory store answers
// synchronously, and a metered call runs its steps once per request: a promise made only to be
// awaited costs a microtask, and under Node 20 and 22 every promise also runs AsyncLocalStorage's
// hooks. These helpers wait only where there is something to wait for.

/** Whether `value` is a thenable (a promise of the value rather than the value). */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** `next(value)` once `value` is there: at once for a plain value, after it settles for a promise. */
export function andThen<T, R>(
  value: MaybePromise<T>,
  next: (value: T) => MaybePromise<R>,
): MaybePromise<R> {
  return isPromise(value) ? value.then(next) : next(value);
}

/**
 * Runs `step`, then `next` with what it gives, or `recover` with what it throws (synchronously, or
 * as a rejection). An error thrown by `next` is not recovered.
 */
export function attempt<T, R>(
  step: () => MaybePromise<T>,
  next: (value: T) => MaybePromise<R>,
  recover: (error: unknown) => MaybePromise<R>,
): MaybePromise<R> {
  let value: MaybePromise<T>;
  try {
    value = step();
  } catch (error) {
    return recover(error);
  }
  return isPromise(value) ? value.then(next, recover) : next(value);
}
