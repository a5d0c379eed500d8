import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { TokencapConfigError } from '../../errors.js';
import { type MeteringContext, planCall } from '../../metering/call.planner.js';
import { positiveCap } from '../../metering/json.guards.js';
import type { MeteredCall } from '../../metering/metered-call.js';
import {
  type MeteringOptions,
  meteringContextResolver,
} from '../../metering/metering-context.resolver.js';
import type { RequestBody } from '../../metering/provider-endpoint.interface.js';
import { meterEagerly } from '../../metering/eager-stream.meter.js';
import type { StreamMetering } from '../../metering/stream.meter.js';
import { chatModelEndpoint, type ChunkObserver } from './chat-model.endpoint.js';
import { kwargsCap, thinkingBudget, VIEW, viewOf } from './chat-model.view.js';
import { final, withRetries } from './attempt.retrier.js';
import { failedAttempt } from './request-failure.js';
import type { LangChainCall } from './langchain-request.js';

/** Options of {@link meterChatModel}: the options of every wrapper, and where the cap lives. */
export interface MeterChatModelOptions extends MeteringOptions {
  /**
   * The model's field that holds its output cap, which Tokencap lowers (on a per-call view, never
   * on the model) to what the budget grants. Found by default among `maxTokens`,
   * `maxOutputTokens` and `numPredict`; a model with none of them is refused at wrap time.
   */
  maxTokensField?: string;
}

type Options = BaseChatModel['ParsedCallOptions'];
type Generate = (
  messages: BaseMessage[],
  options: Options,
  runManager?: CallbackManagerForLLMRun,
) => Promise<ChatResult>;
type StreamChunks = (
  messages: BaseMessage[],
  options: Options,
  runManager?: CallbackManagerForLLMRun,
) => AsyncGenerator<ChatGenerationChunk>;

const CAP_FIELDS = ['maxTokens', 'maxOutputTokens', 'numPredict'];
// Symbol.for: two copies of Tokencap in one process still recognise each other's wrapping.
const METERED = Symbol.for('tokencap.langchain.metered');

/**
 * Meters a LangChain chat model in place and returns it, with its type unchanged: every call
 * (`invoke`, `stream`, `batch`, `generate`, and the runnables `bindTools()`,
 * `withStructuredOutput()` and `createAgent` build on it) is counted and reserved on the caller's
 * budgets before the provider is reached, refused with `BudgetExceededError` when a budget cannot
 * hold it, sent with its output cap lowered to what was granted, cut mid-stream at the budget,
 * and settled from the AIMessage's `usage_metadata` (from an estimate that is never 0 when a
 * stream is cut or dropped). Callbacks' token counts are not used. Calls outside a budget context
 * pass straight through unless `options.budgets` are set. Metering a metered model changes nothing.
 * @throws TokencapConfigError when an option is invalid or the model has no output cap field.
 * @example
 * const model = meterChatModel(new ChatOpenAI({ model: 'gpt-4o-mini' }));
 * await runWithBudgets(ledger, [defineBudget({ scope: 'task', key: 'run-1', limit: 20_000 })], () =>
 *   model.invoke('Summarise our costs'),
 * );
 */
export function meterChatModel<Model extends BaseChatModel>(
  model: Model,
  options: MeterChatModelOptions = {},
): Model {
  if (!(model instanceof BaseChatModel)) {
    throw new TokencapConfigError(
      `meterChatModel: expected a LangChain chat model (a BaseChatModel such as ChatOpenAI), got ${describe(model)}.`,
    );
  }
  const target = model as unknown as Record<PropertyKey, unknown>;
  if (target[METERED]) {
    if (Object.values(options).some((v) => v !== undefined)) {
      throw new TokencapConfigError(
        'meterChatModel: this model is already metered; options can only be given the first time.',
      );
    }
    return model;
  }
  const contextOf = meteringContextResolver(options, 'meterChatModel', ['maxTokensField']);
  const capField = options.maxTokensField ?? CAP_FIELDS.find((field) => field in model);
  if (capField === undefined || !(capField in model)) {
    throw new TokencapConfigError(
      `meterChatModel: ${model.constructor.name} has no output cap field ` +
        `${options.maxTokensField === undefined ? `(looked for ${CAP_FIELDS.join(', ')})` : JSON.stringify(capField)}; ` +
        'name the field that holds its max output tokens in the maxTokensField option.',
    );
  }

  install(model, contextOf, capField);
  return model;
}

/** Whether `model` is metered already (by {@link meterChatModel}, or built by a metered model). */
export function isMetered(model: object): boolean {
  return Boolean((model as Record<PropertyKey, unknown>)[METERED]);
}

/**
 * Patches one model instance. `withConfig` is patched too: `ChatOpenAI` builds a new model there
 * (for `bindTools`, `withStructuredOutput`), which is metered the same way.
 */
function install(
  model: BaseChatModel,
  contextOf: () => MeteringContext | undefined,
  capField: string,
): void {
  const callOf = (
    self: Record<string, unknown>,
    messages: BaseMessage[],
    opts: Options,
    stream: boolean,
  ) => {
    const name = self.model ?? self.modelName;
    const call: LangChainCall = {
      model: typeof name === 'string' ? name : '',
      messages,
      tools: Array.isArray((opts as { tools?: unknown }).tools)
        ? ((opts as { tools: unknown[] }).tools as unknown[])
        : undefined,
      stream,
      cap: lowest(positiveCap(self[capField]), kwargsCap(self)),
      thinking: thinkingBudget(self),
      choices: positiveCap(self.n) ?? 1,
    };
    return call;
  };

  /** Plans one attempt; a refusal ends the retries. */
  const plan = async (context: MeteringContext, call: LangChainCall) => {
    try {
      return await planCall(context, chatModelEndpoint(call.model), call as unknown as RequestBody);
    } catch (error) {
      throw final(error);
    }
  };
  const viewFor = (model: BaseChatModel, call: LangChainCall, sent: LangChainCall) =>
    viewOf(model, {
      capField,
      cap: sent.cap,
      model: sent.model === call.model ? undefined : sent.model,
      thinking: sent.thinking,
    });

  const generate = model._generate as Generate;
  const meteredGenerate: Generate = async function (
    this: BaseChatModel,
    messages,
    opts,
    runManager,
  ) {
    const self = this as unknown as Record<PropertyKey, unknown>;
    const context = self[VIEW] ? undefined : contextOf();
    if (!context) return generate.call(this, messages, opts, runManager);
    const call = callOf(self as Record<string, unknown>, messages, opts, false);
    const attempt = async (): Promise<ChatResult> => {
      const planned = await plan(context, call);
      if (planned.kind === 'fallback') return fallbackResult(planned.data);
      const view = viewFor(this, call, planned.body as unknown as LangChainCall);
      await sendNothingIfAborted(opts.signal, planned.call);
      let result: ChatResult;
      try {
        result = await generate.call(view, messages, opts, runManager);
      } catch (error) {
        if (failedAttempt(error, opts.signal?.aborted === true, false) === 'charge') {
          await planned.call.chargeReservation();
        } else await planned.call.release();
        throw error;
      }
      await planned.call.settleFromData(result);
      return result;
    };
    return withRetries(this, retryOptions(opts), attempt);
  };

  const streamChunks = model._streamResponseChunks as StreamChunks;
  const meteredStream: StreamChunks = async function* (
    this: BaseChatModel,
    messages,
    opts,
    runManager,
  ) {
    const self = this as unknown as Record<PropertyKey, unknown>;
    const context = self[VIEW] ? undefined : contextOf();
    if (!context) {
      yield* streamChunks.call(this, messages, opts, runManager);
      return;
    }
    const call = callOf(self as Record<string, unknown>, messages, opts, true);
    // An attempt lasts until the stream's first chunk: a request that fails before it is settled
    // on its own and may be retried; once a chunk is out, the stream is the caller's.
    const attempt = async (): Promise<StartedStream> => {
      const planned = await plan(context, call);
      if (planned.kind === 'fallback') return { fallback: planned.data };
      const view = viewFor(this, call, planned.body as unknown as LangChainCall);
      await sendNothingIfAborted(opts.signal, planned.call);
      const abort = new AbortController();
      const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
      const metering = planned.call.streamMetering();
      let first: IteratorResult<ChatGenerationChunk>;
      let source: AsyncGenerator<ChatGenerationChunk>;
      try {
        source = streamChunks.call(view, messages, { ...opts, signal }, runManager);
        first = await source.next();
      } catch (error) {
        if (failedAttempt(error, opts.signal?.aborted === true, true) === 'charge') {
          await metering.settle();
        } else await planned.call.release();
        throw error;
      }
      return { source, first, metering, abort };
    };
    const started = await withRetries(this, retryOptions(opts), attempt);
    if ('fallback' in started) {
      const message = fallbackResult(started.fallback).generations[0]!.message;
      yield new ChatGenerationChunk({
        text: message.text,
        message: new AIMessageChunk({ content: message.content }),
      });
      return;
    }
    const { source, first, metering, abort } = started;
    const observer = metering.observer as ChunkObserver;
    // Read as the provider sends, not as the caller pulls: LangChain's stream is pulled by its
    // caller, and one who reads slowly and leaves, or never reads, would be charged what it read.
    yield* meterEagerly(
      resumed(first, source),
      metering,
      () => abort.abort(),
      () => observer.complete(),
    );
  };

  Object.defineProperty(model, '_generate', {
    value: meteredGenerate,
    configurable: true,
    writable: true,
  });
  if (streamChunks !== BaseChatModel.prototype._streamResponseChunks) {
    Object.defineProperty(model, '_streamResponseChunks', {
      value: meteredStream,
      configurable: true,
      writable: true,
    });
    // A model's own event stream (ChatOpenAI's) would bypass the chunks: the default bridge
    // builds the events from the metered chunks instead.
    Object.defineProperty(model, '_streamChatModelEvents', {
      value: BaseChatModel.prototype._streamChatModelEvents,
      configurable: true,
      writable: true,
    });
  }
  const withConfig = model.withConfig as (...args: unknown[]) => unknown;
  Object.defineProperty(model, 'withConfig', {
    value: function (this: BaseChatModel, ...args: unknown[]) {
      const made = withConfig.apply(this, args);
      if (
        made instanceof BaseChatModel &&
        !(made as unknown as Record<PropertyKey, unknown>)[METERED]
      ) {
        install(made, contextOf, capField);
      }
      return made;
    },
    configurable: true,
    writable: true,
  });
  Object.defineProperty(model, METERED, { value: true });
}

/** A stream whose first chunk was read by its attempt. */
type StartedStream =
  | {
      source: AsyncGenerator<ChatGenerationChunk>;
      first: IteratorResult<ChatGenerationChunk>;
      metering: StreamMetering;
      abort: AbortController;
    }
  | { fallback: unknown };

/**
 * A call whose signal aborted before its request was built (an agent stream its caller left ends
 * its next model call so, often while it is being planned) sends nothing: released, charged 0.
 */
async function sendNothingIfAborted(
  signal: AbortSignal | undefined,
  call: MeteredCall,
): Promise<void> {
  if (!signal?.aborted) return;
  await call.release();
  signal.throwIfAborted();
}

/** The call's own `maxRetries` and `signal`, for {@link withRetries}. */
function retryOptions(opts: Options): { maxRetries?: number; signal?: AbortSignal } {
  const { maxRetries, signal } = opts as { maxRetries?: unknown; signal?: AbortSignal };
  return { maxRetries: typeof maxRetries === 'number' ? maxRetries : undefined, signal };
}

/** The stream again, from the chunk already read. */
async function* resumed<T>(first: IteratorResult<T>, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  if (first.done) return;
  yield first.value;
  yield* rest;
}

function lowest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}

/** A `degrade` budget's fallback answer as a chat result: a message as is, anything else as text. */
function fallbackResult(data: unknown): ChatResult {
  const message =
    data instanceof AIMessage
      ? data
      : new AIMessage({ content: typeof data === 'string' ? data : JSON.stringify(data ?? null) });
  return { generations: [{ text: message.text, message }] };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value.constructor?.name ?? 'an object';
}
