import type {
  ChatResponse,
  ChatResponseChunk,
  LLM,
  LLMChatParamsBase,
} from '@llamaindex/core/llms';
import { TokencapConfigError } from '../../errors.js';
import { planCall } from '../../metering/call.planner.js';
import { record } from '../../metering/json.guards.js';
import {
  type MeteringOptions,
  meteringContextResolver,
} from '../../metering/metering-context.resolver.js';
import { asChatBody, requestedCap } from './llamaindex-request.js';
import { meterChatStream } from './chat-stream.meter.js';
import { llmEndpoint } from './llm.endpoint.js';
import { routeSignals, withSignal } from './request-signal.js';

// Symbol.for: two copies of Tokencap in one process still recognise each other's metering.
const METERED = Symbol.for('tokencap.llamaindex.metered');
// Marks a per-call view, whose `chat` runs the LLM's own code (the call that made it meters it).
const VIEW = Symbol('tokencap.llamaindex.view');

type Chat = (params: LLMChatParamsBase & { stream?: boolean }) => Promise<unknown>;

/**
 * Meters a LlamaIndex LLM (`@llamaindex/openai`'s `OpenAI`, or any `LLM` with a `chat` method) in
 * place and returns it, with its type unchanged. `chat` and `complete` (which runs through `chat`),
 * streamed or not, and so the query engines, chat engines and agents built on the LLM, are counted
 * and reserved on the caller's budgets before the provider is reached, refused with
 * `BudgetExceededError` when a budget cannot hold them, sent with `maxTokens` lowered to what was
 * granted (on a per-call view, never on the LLM), cut mid-stream at the budget, and settled from the
 * usage in each response's `raw` (from an estimate that is never 0 when it has none). A stream is
 * metered as its chunks arrive, not as they are read (see `meterChatStream`). Calls outside
 * a budget context pass straight through unless `options.budgets` are set.
 * @throws TokencapConfigError when an option is invalid or `llm` has no `chat` method.
 * @example
 * const llm = meterLLM(new OpenAI({ model: 'gpt-4o-mini' }));
 * await runWithBudgets(ledger, [defineBudget({ scope: 'task', key: 'q-1', limit: 20_000 })], () =>
 *   llm.complete({ prompt: 'Summarise our costs' }),
 * );
 */
export function meterLLM<Model extends LLM>(llm: Model, options: MeteringOptions = {}): Model {
  const target = llm as unknown as Record<PropertyKey, unknown> | null;
  if (typeof target !== 'object' || target === null || typeof target.chat !== 'function') {
    throw new TokencapConfigError(
      `meterLLM: expected a LlamaIndex LLM (an object with a chat method), got ${target === null ? 'null' : typeof target}.`,
    );
  }
  if (target[METERED]) {
    if (Object.values(options).some((v) => v !== undefined)) {
      throw new TokencapConfigError(
        'meterLLM: this LLM is already metered; options can only be given the first time.',
      );
    }
    return llm;
  }
  const contextOf = meteringContextResolver(options, 'meterLLM');
  const original = target.chat as Chat;

  const metered: Chat = async function (this: Record<PropertyKey, unknown>, params) {
    const context = this[VIEW] ? undefined : contextOf();
    if (!context) return original.call(this, params);
    const metadata = record(this.metadata);
    const name = this.model ?? metadata?.model;
    const model = typeof name === 'string' ? name : '';
    const stream = params.stream === true;
    const extra = record(params.additionalChatOptions);
    const own = record(this.additionalChatOptions);
    const body = asChatBody(model, params, requestedCap(this.maxTokens, params, own), stream);
    const streamOptions =
      record(extra?.stream_options) ?? record(record(this.additionalChatOptions)?.stream_options);
    if (streamOptions) body.stream_options = streamOptions;

    const planned = await planCall(context, llmEndpoint, body);
    if (planned.kind === 'fallback') return fallbackAnswer(planned.data, stream);
    const sent = planned.body;
    // The planner caps a reasoning model's body with max_completion_tokens, others' with max_tokens.
    const cap = llmEndpoint.output?.requested(sent);
    const swapped = sent.model !== model ? (sent.model as string) : undefined;
    let view: Record<PropertyKey, unknown> | undefined;
    let callParams = params;
    if ('additionalChatOptions' in this) {
      // The OpenAI LLM (and those built on it) binds `chat` to the instance and spreads the
      // call's `additionalChatOptions` over its request: the cap, the model and the stream's
      // usage request go there.
      const lowered: Record<string, unknown> = { ...extra };
      if (cap !== undefined) {
        // One cap field is sent, lowered: OpenAI refuses max_tokens with max_completion_tokens
        // (400), and reasoning models (o-series, gpt-5) refuse max_tokens. The caller's
        // max_completion_tokens stays max_completion_tokens.
        const completion =
          own?.max_completion_tokens != null ||
          extra?.max_completion_tokens != null ||
          context.catalog.isReasoning(swapped ?? model);
        if (completion) {
          lowered.max_completion_tokens = cap;
          // Undefined overrides the LLM's maxTokens and own max_tokens, and is left out of the
          // request's JSON.
          lowered.max_tokens = undefined;
        } else {
          lowered.max_tokens = cap;
        }
      }
      if (swapped) lowered.model = swapped;
      if (stream && planned.call.plan.injected) lowered.stream_options = sent.stream_options;
      callParams = { ...params, additionalChatOptions: lowered };
    } else {
      // Any other LLM: its own fields, on a per-call view, so the LLM itself is never changed.
      view = Object.create(this) as Record<PropertyKey, unknown>;
      view[VIEW] = true;
      if (cap !== undefined) view.maxTokens = cap;
      if (swapped && 'model' in this) view.model = swapped;
    }

    const abort = new AbortController();
    if (stream) await routeSignals(this);
    let result: unknown;
    try {
      result = await withSignal(abort.signal, () => original.call(view ?? this, callParams));
    } catch (error) {
      // No answer came (an HTTP or network error): nothing was billed. (A stream's request
      // leaves on its first `next()`: its failures are settled by `meterChatStream`.)
      await planned.call.release();
      throw error;
    }
    if (!stream) {
      await planned.call.settleFromData(result);
      return result;
    }
    // Cutting, or the reader leaving, aborts the request: the provider stops billing.
    return meterChatStream(result as AsyncIterable<ChatResponseChunk>, planned.call, abort);
  };

  Object.defineProperty(llm, 'chat', { value: metered, configurable: true, writable: true });
  Object.defineProperty(llm, METERED, { value: true });
  return llm;
}

/** A `degrade` budget's fallback answer as a chat response (or a one-chunk stream). */
function fallbackAnswer(
  data: unknown,
  stream: boolean,
): ChatResponse | AsyncIterable<ChatResponseChunk> {
  const text = typeof data === 'string' ? data : JSON.stringify(data ?? null);
  if (!stream) return { message: { role: 'assistant', content: text }, raw: data as object };
  return (async function* () {
    yield { delta: text, raw: data as object };
  })();
}
