import { stampRetryable } from '@langchain/core/errors';
import { AsyncCaller } from '@langchain/core/utils/async_caller';

// A metered call takes over the model's retries: each attempt is a request the provider may bill,
// so each is planned (reserved, clamped) and settled on its own, and a retry the budget can no
// longer hold is refused instead of sent. LangChain models retry inside `this.caller` (an
// AsyncCaller); the per-call view gets a caller that makes one attempt, and the metered call
// retries by the same rules (the model's `maxRetries`, `onFailedAttempt` and backoff).

/** The parts of LangChain's AsyncCaller used here; all public. */
interface CallerLike {
  maxRetries?: unknown;
  onFailedAttempt?: unknown;
  callWithOptions(
    options: object,
    callable: (...args: unknown[]) => unknown,
    ...args: unknown[]
  ): Promise<unknown>;
}

function callerOf(model: object): CallerLike | undefined {
  const caller = (model as { caller?: unknown }).caller;
  return caller instanceof AsyncCaller ? (caller as unknown as CallerLike) : undefined;
}

/**
 * A caller for the model's per-call view: the model's own (its queue, its concurrency), with every
 * call made once; `undefined` when the model has no AsyncCaller (its retries are left to it).
 */
export function singleAttemptCaller(model: object): object | undefined {
  const caller = callerOf(model);
  if (!caller) return undefined;
  const once = Object.create(caller) as Record<string, unknown>;
  once.call = (callable: (...args: unknown[]) => unknown, ...args: unknown[]) =>
    caller.callWithOptions({ maxRetries: 0 }, callable, ...args);
  once.callWithOptions = (
    options: object,
    callable: (...args: unknown[]) => unknown,
    ...args: unknown[]
  ) => caller.callWithOptions({ ...options, maxRetries: 0 }, callable, ...args);
  return once;
}

/**
 * Runs `attempt` with the model's retry rules: as often as its caller would retry (`maxRetries`
 * from the call options, else the model's), after the errors its `onFailedAttempt` lets through.
 * A model without an AsyncCaller runs `attempt` once.
 */
export function withRetries<T>(
  model: object,
  options: { maxRetries?: number; signal?: AbortSignal },
  attempt: () => Promise<T>,
): Promise<T> {
  const caller = callerOf(model);
  if (!caller) return attempt();
  // Its own caller, never the model's: the attempt queues on the model's caller, and a caller with
  // a concurrency limit would wait on itself.
  const retrier = new AsyncCaller({
    maxRetries: typeof caller.maxRetries === 'number' ? caller.maxRetries : undefined,
    onFailedAttempt: caller.onFailedAttempt as ((error: unknown) => void) | undefined,
  });
  return retrier.callWithOptions(
    { maxRetries: options.maxRetries, signal: options.signal },
    attempt,
  );
}

/** Marks an error no retry may follow (a refusal of the budget). */
export function final<E>(error: E): E {
  return stampRetryable(error, false);
}
