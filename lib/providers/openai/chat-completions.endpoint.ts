import { shallowCopy } from '../../core/shallow-copy.js';
import { countChatTokens, estimateTokens } from '../../counting/index.js';
import { assertCap, positiveCap, record, tokenCount } from '../../metering/json.guards.js';
import type {
  OutputSink,
  ProviderEndpoint,
  ReportedUsage,
  StreamObserver,
} from '../../metering/provider-endpoint.interface.js';
import { modelOf, withModel } from './openai-request.js';
import { unreadChatTokens } from './unread-text.estimator.js';

/** The chat parameter that carries an output cap Tokencap adds to an uncapped request. */
export type ChatCapParameter = 'max_completion_tokens' | 'max_tokens';

const CAP_PARAMETERS: readonly ChatCapParameter[] = ['max_completion_tokens', 'max_tokens'];

/**
 * `chat.completions.create`, plain and streamed. `capParameter` is the parameter set on a request
 * that names no cap (a request that names one keeps its own), except for reasoning models, which
 * refuse `max_tokens`: they are always sent `max_completion_tokens`.
 */
export function chatCompletionsEndpoint(capParameter: ChatCapParameter): ProviderEndpoint {
  return {
    name: 'chat.completions',
    provider: 'openai',
    jsonBody: true,
    modelOf,
    withModel,
    countInput: (body, model) => ({ inputTokens: countChat(body, model) }),
    validate(body) {
      for (const p of CAP_PARAMETERS) assertCap(body, p, 1);
      assertCap(body, 'n', 1);
    },
    output: {
      requested(body) {
        let least: number | undefined;
        for (const p of CAP_PARAMETERS) {
          const cap = positiveCap(body[p]);
          if (cap !== undefined && (least === undefined || cap < least)) least = cap;
        }
        return least;
      },
      minimum: () => 1,
      choices: (body) => positiveCap(body.n) ?? 1,
      withCap(body, cap, reasoning) {
        const copy: Record<string, unknown> = shallowCopy(body);
        // Keep the parameter the caller used: older models and compatible servers only know max_tokens.
        let used = false;
        for (const p of CAP_PARAMETERS) {
          if (body[p] === undefined || body[p] === null) continue;
          copy[p] = Math.min(positiveCap(body[p]) ?? Infinity, cap);
          used = true;
        }
        if (!used) copy[reasoning ? 'max_completion_tokens' : capParameter] = cap;
        return copy;
      },
    },
    isStream: (body) => body.stream === true,
    prepareStream(body) {
      const options = record(body.stream_options);
      if (options?.include_usage === true) return { body, injected: false };
      const copy: Record<string, unknown> = shallowCopy(body);
      copy.stream_options = { ...options, include_usage: true };
      return { body: copy, injected: true };
    },
    usageOf(data) {
      const response = record(data);
      return response && usageOf(response.usage, response.model);
    },
    outputOf(data, sink) {
      const choices = record(data)?.choices;
      if (!Array.isArray(choices)) return;
      choices.forEach((choice, i) => {
        const c = record(choice);
        addMessage(sink, String(tokenCount(c?.index) ?? i), record(c?.message));
      });
    },
    truncated(data) {
      const choices = record(data)?.choices;
      return Array.isArray(choices) && choices.some((c) => record(c)?.finish_reason === 'length');
    },
    streamObserver: (injected) => new ChatStreamObserver(injected),
  };
}

function countChat(body: Readonly<Record<string, unknown>>, model: string): number {
  // Deprecated `functions` are billed like tools; count them as such.
  const tools =
    body.tools ??
    (Array.isArray(body.functions)
      ? body.functions.map((fn: unknown) => ({ type: 'function', function: fn }))
      : undefined);
  try {
    const counted = countChatTokens({
      model,
      messages: body.messages,
      tools,
      response_format: body.response_format,
    } as Parameters<typeof countChatTokens>[0]);
    // The formula counts non-text values where text belongs as 0; count them conservatively.
    return counted + unreadChatTokens(body.messages);
  } catch {
    // Shapes the counter does not know (new content parts): estimate rather than fail the call.
    return estimateTokens(JSON.stringify([body.messages, tools ?? null]));
  }
}

class ChatStreamObserver implements StreamObserver {
  usage: ReportedUsage | undefined;
  truncated = false;

  constructor(private readonly injected: boolean) {}

  observe(item: unknown, sink: OutputSink): boolean {
    const chunk = record(item);
    if (!chunk) return true;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    if (chunk.usage !== undefined && chunk.usage !== null) {
      this.usage = usageOf(chunk.usage, chunk.model) ?? this.usage;
    }
    for (const choice of choices) {
      const c = record(choice);
      if (!c) continue;
      if (c.finish_reason === 'length') this.truncated = true;
      addMessage(sink, String(tokenCount(c.index) ?? 0), record(c.delta));
    }
    if (!this.injected) return true;
    // The usage chunk was asked for by Tokencap, not by the caller: hide it, and the `usage: null`
    // the API then adds to every other chunk, so the stream looks as it would have without us.
    if (choices.length === 0 && chunk.usage) return false;
    if (chunk.usage === null) delete chunk.usage;
    return true;
  }
}

/** Text of a message or a delta: content, refusal, tool calls, and reasoning of compatible servers. */
function addMessage(
  sink: OutputSink,
  channel: string,
  message: Record<string, unknown> | undefined,
) {
  if (!message) return;
  for (const field of ['content', 'refusal', 'reasoning_content', 'reasoning']) {
    const text = message[field];
    if (typeof text === 'string') sink.add(channel, text);
    else if (Array.isArray(text)) {
      for (const part of text) {
        const t = record(part)?.text;
        if (typeof t === 'string') sink.add(channel, t);
      }
    }
  }
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  const legacy = record(message.function_call);
  for (const call of legacy ? [...calls, { function: legacy }] : calls) {
    const fn = record(record(call)?.function);
    const id = tokenCount(record(call)?.index) ?? 0;
    for (const part of [fn?.name, fn?.arguments]) {
      if (typeof part === 'string') sink.add(`${channel}/tool${id}`, part);
    }
  }
}

function usageOf(value: unknown, model: unknown): ReportedUsage | undefined {
  const usage = record(value);
  if (!usage) return undefined;
  return {
    inputTokens: tokenCount(usage.prompt_tokens),
    outputTokens: tokenCount(usage.completion_tokens),
    cachedInputTokens: tokenCount(record(usage.prompt_tokens_details)?.cached_tokens),
    reasoningTokens: tokenCount(record(usage.completion_tokens_details)?.reasoning_tokens),
    model: typeof model === 'string' ? model : undefined,
  };
}
