import { countChatTokens, estimateTokens } from '../../counting/index.js';
import { record } from '../../metering/json.guards.js';
import type {
  OutputSink,
  ProviderEndpoint,
  RequestBody,
  ReportedUsage,
  StreamObserver,
} from '../../metering/provider-endpoint.interface.js';
import { countClaudeOutputLow } from '../../providers/anthropic/claude-text.estimator.js';
import { MIN_THINKING_BUDGET } from '../../providers/anthropic/messages-output.cap.js';
import { estimateMessagesInput } from '../../providers/anthropic/messages-request.estimator.js';
import {
  asChatRequest,
  asMessagesRequest,
  isClaude,
  type LangChainCall,
} from './langchain-request.js';
import { answeringModel, readUsageMetadata } from './langchain-usage.reader.js';

/**
 * A LangChain chat model call as a metering endpoint. The body is a {@link LangChainCall}, never
 * sent: the model's own code builds the request, with the cap and model the plan chose. Claude
 * models are counted by the conservative Claude estimator (their unreported output charged as
 * granted: thinking is billed unseen); every other model by the OpenAI chat formula, exact for
 * OpenAI models and an estimate for the rest.
 */
export function chatModelEndpoint(model: string): ProviderEndpoint {
  const claude = isClaude(model);
  return {
    name: 'langchain chat model',
    modelOf: (body) => callOf(body).model,
    withModel: (body, name) => ({ ...body, model: name }),
    countInput: (body, name) =>
      claude
        ? estimateMessagesInput(asMessagesRequest(callOf(body)), name)
        : { inputTokens: countChat(callOf(body), name) },
    output: {
      requested: (body) => callOf(body).cap,
      // Extended thinking needs budget_tokens >= 1024 below max_tokens: a budget that cannot grant
      // 1025 refuses the call before it is sent, as wrapAnthropic does.
      minimum: (body) => (callOf(body).thinking === undefined ? 1 : MIN_THINKING_BUDGET + 1),
      choices: (body) => callOf(body).choices,
      withCap: (body, cap) => withCap(callOf(body), cap) as unknown as RequestBody,
    },
    isStream: (body) => callOf(body).stream,
    prepareStream: (body) => ({ body, injected: false }),
    usageOf: (data) => resultUsage(data),
    outputOf(data, sink) {
      generationsOf(data).forEach((generation, i) => addMessage(sink, String(i), generation));
    },
    truncated: (data) => generationsOf(data).some((g) => stoppedByCap(g)),
    streamObserver: () => new ChunkObserver(),
    ...(claude
      ? { countOutput: (text: string) => countClaudeOutputLow(text), unreportedOutput: 'granted' }
      : {}),
  };
}

/**
 * The call with its cap lowered to `cap`, and a thinking budget that no longer fits below it
 * lowered to `cap - 1` (never below 1024), so the request stays one the API accepts.
 */
function withCap(call: LangChainCall, cap: number): LangChainCall {
  const lowered = Math.min(call.cap ?? Infinity, cap);
  const { thinking } = call;
  if (thinking === undefined || thinking < lowered || lowered <= MIN_THINKING_BUDGET) {
    return { ...call, cap: lowered };
  }
  return { ...call, cap: lowered, thinking: lowered - 1 };
}

function callOf(body: RequestBody): LangChainCall {
  return body as unknown as LangChainCall;
}

function countChat(call: LangChainCall, model: string): number {
  const { messages, tools } = asChatRequest(call);
  try {
    return countChatTokens({ model, messages, tools } as unknown as Parameters<
      typeof countChatTokens
    >[0]);
  } catch {
    return estimateTokens(JSON.stringify([messages, tools ?? null]));
  }
}

/** The messages of a `ChatResult`'s generations. */
function generationsOf(data: unknown): Record<string, unknown>[] {
  const generations = record(data)?.generations;
  if (!Array.isArray(generations)) return [];
  return generations
    .map((g: unknown) => record(record(g)?.message))
    .filter((m): m is Record<string, unknown> => m !== undefined);
}

/** The usage the first generation carrying one reports (all of them share the call's usage). */
function resultUsage(data: unknown): ReportedUsage | undefined {
  for (const message of generationsOf(data)) {
    const usage = readUsageMetadata(message.usage_metadata);
    if (usage) return { ...usage, model: answeringModel(message.response_metadata) };
  }
  return undefined;
}

function stoppedByCap(message: Record<string, unknown>): boolean {
  const meta = record(message.response_metadata);
  return meta?.finish_reason === 'length' || meta?.stop_reason === 'max_tokens';
}

/** Visible output of a message or chunk: text and thinking blocks, tool call names and arguments. */
function addMessage(sink: OutputSink, channel: string, message: Record<string, unknown>): void {
  const content = message.content;
  if (typeof content === 'string') sink.add(channel, content);
  else if (Array.isArray(content)) {
    for (const block of content) {
      const b = record(block);
      for (const field of ['text', 'thinking', 'reasoning']) {
        if (typeof b?.[field] === 'string') sink.add(channel, b[field]);
      }
    }
  }
  const reasoning = record(message.additional_kwargs)?.reasoning_content;
  if (typeof reasoning === 'string') sink.add(channel, reasoning);
  const chunks = message.tool_call_chunks;
  const calls = Array.isArray(chunks) && chunks.length > 0 ? chunks : message.tool_calls;
  if (!Array.isArray(calls)) return;
  calls.forEach((call: unknown, i) => {
    const c = record(call);
    const id = typeof c?.index === 'number' ? c.index : i;
    if (typeof c?.name === 'string') sink.add(`${channel}/tool${id}`, c.name);
    const args = typeof c?.args === 'string' ? c.args : c?.args && JSON.stringify(c.args);
    if (typeof args === 'string') sink.add(`${channel}/tool${id}`, args);
  });
}

/**
 * Reads `ChatGenerationChunk`s. Input usage adds up across chunks (Anthropic reports it first,
 * OpenAI at the end). Output usage is taken as the largest one chunk reports, never their sum:
 * Anthropic's `message_delta` carries the running total after `message_start` reported a token
 * or two, and LangChain's own sum counts those twice. It is only final once the stream has ended
 * by itself ({@link complete}): a stream cut or dropped earlier is settled from the output seen
 * (or granted) instead of a partial report.
 */
export class ChunkObserver implements StreamObserver {
  private sum: ReportedUsage | undefined;
  private ended = false;
  truncated = false;

  get usage(): ReportedUsage | undefined {
    if (!this.sum || this.ended) return this.sum;
    const { outputTokens: _partial, reasoningTokens: _r, ...input } = this.sum;
    return input;
  }

  /** The stream ended on its own: its usage is the call's usage. */
  complete(): void {
    this.ended = true;
  }

  observe(item: unknown, sink: OutputSink): boolean {
    const message = record(record(item)?.message);
    if (!message) return true;
    addMessage(sink, '0', message);
    const info = record(record(item)?.generationInfo);
    const delta = record(message.additional_kwargs);
    if (
      stoppedByCap(message) ||
      info?.finish_reason === 'length' ||
      info?.stop_reason === 'max_tokens' ||
      delta?.stop_reason === 'max_tokens'
    ) {
      this.truncated = true;
    }
    // ChatOpenAI's chunks name the answering model in their generationInfo, not the message.
    const model = answeringModel(message.response_metadata) ?? answeringModel(info);
    const usage = readUsageMetadata(message.usage_metadata);
    if (usage) this.add(usage);
    if (model && this.sum) this.sum.model = model;
    else if (model) this.model = model;
    return true;
  }

  private model: string | undefined;

  private add(usage: ReportedUsage): void {
    const sum: ReportedUsage = this.sum ?? { model: this.model };
    for (const key of ADDED) {
      if (usage[key] !== undefined) sum[key] = (sum[key] ?? 0) + usage[key];
    }
    for (const key of LARGEST) {
      if (usage[key] !== undefined) sum[key] = Math.max(sum[key] ?? 0, usage[key]);
    }
    this.sum = sum;
  }
}

const ADDED = [
  'inputTokens',
  'cachedInputTokens',
  'cacheWrite5mTokens',
  'cacheWrite1hTokens',
] as const;
const LARGEST = ['outputTokens', 'reasoningTokens'] as const;
