import type { LanguageModelV4CallOptions, LanguageModelV4GenerateResult } from '@ai-sdk/provider';
import { countTokens, encodingForModel } from '../../counting/index.js';
import { positiveCap, record } from '../../metering/json.guards.js';
import type {
  InputCount,
  OutputCap,
  OutputSink,
  ProviderEndpoint,
  ReportedUsage,
  RequestBody,
} from '../../metering/provider-endpoint.interface.js';
import { countClaudeOutputLow } from '../../providers/anthropic/claude-text.estimator.js';
import { estimateMessagesInput } from '../../providers/anthropic/messages-request.estimator.js';
import { chatCompletionsEndpoint } from '../../providers/openai/chat-completions.endpoint.js';
import {
  RESPONSES_MIN_OUTPUT_TOKENS,
  responsesEndpoint,
} from '../../providers/openai/responses.endpoint.js';
import {
  renderChatRequest,
  renderMessagesRequest,
  renderResponsesRequest,
} from './prompt.renderer.js';
import { StreamPartObserver } from './stream-part.observer.js';
import { readUsage } from './usage.reader.js';

/** What the metering pipeline sees of one AI SDK call: the model it goes to, and its options. */
export interface LanguageModelCall {
  readonly model: string;
  /** The provider id of the model (`openai.chat`, `openai.responses`, `anthropic.messages`, …). */
  readonly provider: string;
  readonly params: LanguageModelV4CallOptions;
}

/** The `providerOptions.anthropic.thinking` budget `@ai-sdk/anthropic` adds to `max_tokens`. */
const DEFAULT_THINKING_BUDGET = 1024;

const chat = chatCompletionsEndpoint('max_tokens');

/**
 * A call of an AI SDK language model (the `LanguageModelV4` a middleware wraps), for any provider
 * package. The prompt is counted exactly (the model's tiktoken encoding, by the Chat Completions or
 * Responses rules the provider follows) when the catalog knows the model as an OpenAI model, and
 * by the conservative Claude estimator otherwise, which errs high. Output is counted exactly for
 * OpenAI models and low for others, so a stream within its cap is never cut.
 */
export function languageModelEndpoint(model: string): ProviderEndpoint {
  const openai = encodingForModel(model) !== undefined;
  return {
    name: 'languageModel',
    output: outputCap,
    modelOf: (body) => callOf(body).model,
    withModel: (body, fallback) => ({ ...callOf(body), model: fallback }),
    countInput: (body, sent) => countInput(callOf(body), sent),
    // `doStream` or `doGenerate` decides; the middleware sets this field itself.
    isStream: (body) => body.stream === true,
    // Every AI SDK stream ends with a `finish` part carrying its usage: nothing to ask for.
    prepareStream: (body) => ({ body, injected: false }),
    usageOf: (data) => usageOf(data as LanguageModelV4GenerateResult),
    outputOf: (data, sink) => addContent(sink, data as LanguageModelV4GenerateResult),
    truncated: (data) => (data as LanguageModelV4GenerateResult).finishReason?.unified === 'length',
    streamObserver: () => new StreamPartObserver(),
    countOutput: (text, sent) =>
      encodingForModel(sent) !== undefined ? countTokens(text, sent) : countClaudeOutputLow(text),
    // Output of other providers is only counted low: what was never reported is charged as granted.
    unreportedOutput: openai ? 'seen' : 'granted',
  };
}

/** The body of a call, as the pipeline carries it. */
export function callBody(call: LanguageModelCall, stream: boolean): RequestBody {
  return { ...call, stream };
}

/** The call a body carries. */
export function callOf(body: RequestBody): LanguageModelCall {
  return body as unknown as LanguageModelCall;
}

function countInput(call: LanguageModelCall, model: string): InputCount | Promise<InputCount> {
  if (encodingForModel(model) === undefined) {
    return estimateMessagesInput(renderMessagesRequest(call.params, model), model);
  }
  return call.provider.includes('responses')
    ? responsesEndpoint.countInput(renderResponsesRequest(call.params, model), model)
    : chat.countInput(renderChatRequest(call.params, model), model);
}

/**
 * `maxOutputTokens`, and the provider options that replace it or add to it: `@ai-sdk/openai`'s
 * chat `maxCompletionTokens`, and `@ai-sdk/anthropic`'s thinking budget, which it adds to
 * `max_tokens` (so a call with thinking enabled is granted its budget plus at least one visible
 * token).
 */
const outputCap: OutputCap = {
  requested(body) {
    const call = callOf(body);
    const cap = completionCap(call) ?? positiveCap(call.params.maxOutputTokens);
    if (cap === undefined) return undefined;
    return cap + (thinkingBudget(call.params) ?? 0);
  },
  minimum(body) {
    const call = callOf(body);
    const thinking = thinkingBudget(call.params);
    if (thinking !== undefined) return thinking + 1;
    return call.provider.includes('responses') ? RESPONSES_MIN_OUTPUT_TOKENS : 1;
  },
  choices: () => 1,
  withCap(body, cap) {
    const call = callOf(body);
    const visible = cap - (thinkingBudget(call.params) ?? 0);
    const output = positiveCap(call.params.maxOutputTokens);
    const completion = completionCap(call);
    const params: LanguageModelV4CallOptions = { ...call.params };
    // `@ai-sdk/openai` sends `maxOutputTokens` as `max_tokens` and `maxCompletionTokens` as
    // `max_completion_tokens`, which OpenAI refuses together: lower the caps the caller gave and
    // add `maxOutputTokens` only when the call had no cap at all.
    if (output !== undefined || completion === undefined) {
      params.maxOutputTokens = Math.min(output ?? Infinity, visible);
    }
    if (completion !== undefined) {
      // Lowered in every namespace that sets it, so whichever the model merges last still caps.
      const providerOptions: Record<string, unknown> = { ...call.params.providerOptions };
      for (const name of completionNamespaces(call)) {
        const options = record(providerOptions[name]);
        const own = positiveCap(options?.maxCompletionTokens);
        if (own !== undefined)
          providerOptions[name] = { ...options, maxCompletionTokens: Math.min(own, visible) };
      }
      params.providerOptions = providerOptions as typeof params.providerOptions;
    }
    return { ...body, params };
  },
};

/**
 * `maxCompletionTokens` of an `@ai-sdk/openai` chat model, which sends it as
 * `max_completion_tokens`: the cap OpenAI applies, over a `maxOutputTokens` beside it. Azure's chat
 * models (`@ai-sdk/azure`, provider `azure.chat`) merge `providerOptions.openai` then
 * `providerOptions.azure`, so the later one wins. Other models, Responses models included, ignore it.
 */
function completionCap(call: LanguageModelCall): number | undefined {
  let cap: number | undefined;
  for (const name of completionNamespaces(call)) {
    const own = positiveCap(record(call.params.providerOptions?.[name])?.maxCompletionTokens);
    if (own !== undefined) cap = own;
  }
  return cap;
}

const OPENAI_NAMESPACES = ['openai'] as const;
const AZURE_NAMESPACES = ['openai', 'azure'] as const;

/** The `providerOptions` namespaces a chat model reads `maxCompletionTokens` from, in merge order. */
function completionNamespaces(call: LanguageModelCall): readonly string[] {
  if (call.provider === 'openai.chat') return OPENAI_NAMESPACES;
  if (call.provider === 'azure.chat') return AZURE_NAMESPACES;
  return [];
}

function thinkingBudget(params: LanguageModelV4CallOptions): number | undefined {
  const thinking = record(record(params.providerOptions?.anthropic)?.thinking);
  if (thinking?.type !== 'enabled') return undefined;
  return positiveCap(thinking.budgetTokens) ?? DEFAULT_THINKING_BUDGET;
}

function usageOf(result: LanguageModelV4GenerateResult): ReportedUsage | undefined {
  const model = result.response?.modelId;
  return readUsage(result.usage, typeof model === 'string' ? model : undefined);
}

function addContent(sink: OutputSink, result: LanguageModelV4GenerateResult): void {
  const content = Array.isArray(result.content) ? result.content : [];
  content.forEach((part, i) => {
    const channel = String(i);
    if (part.type === 'text' || part.type === 'reasoning') sink.add(channel, part.text);
    else if (part.type === 'tool-call') sink.add(channel, part.toolName + part.input);
  });
}
