import { AsyncLocalStorage } from 'node:async_hooks';
import { record } from '../../metering/json.guards.js';

// Symbol.for: two copies of Tokencap in one process route one client once.
const ROUTED = Symbol.for('tokencap.llamaindex.signalRouted');
const SIGNAL = new AsyncLocalStorage<AbortSignal>();

type Create = (this: unknown, body: unknown, options?: { signal?: AbortSignal }) => unknown;

/**
 * Makes the OpenAI client behind a LlamaIndex LLM (its `session`) send the signal of the metered
 * call that runs it. LlamaIndex takes no signal, and its stream wrappers never pass `return()` on
 * to the SDK's stream, so leaving a stream would not close its request: the signal does.
 * @returns whether the LLM has such a client (other LLMs are closed through `return()` only).
 */
export async function routeSignals(llm: Record<PropertyKey, unknown>): Promise<boolean> {
  if (!('session' in llm)) return false;
  const completions = record(record(record(await llm.session)?.chat)?.completions) as
    (Record<PropertyKey, unknown> & { create?: Create }) | undefined;
  if (!completions || typeof completions.create !== 'function') return false;
  if (completions[ROUTED]) return true;
  const create = completions.create;
  completions.create = function (this: unknown, body, options) {
    const signal = SIGNAL.getStore();
    if (!signal) return create.call(this, body, options);
    const merged = options?.signal ? AbortSignal.any([options.signal, signal]) : signal;
    return create.call(this, body, { ...options, signal: merged });
  };
  Object.defineProperty(completions, ROUTED, { value: true });
  return true;
}

/** Runs `fn` so that the requests a routed client sends inside it carry `signal`. */
export function withSignal<T>(signal: AbortSignal, fn: () => T): T {
  return SIGNAL.run(signal, fn);
}
