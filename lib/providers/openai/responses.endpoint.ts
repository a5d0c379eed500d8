import { countResponsesInput, estimateTokens } from '../../counting/index.js';
import { positiveCap, record, tokenCount } from '../../metering/json.guards.js';
import type {
  OutputSink,
  ProviderEndpoint,
  ReportedUsage,
  RequestBody,
  StreamObserver,
} from '../../metering/provider-endpoint.interface.js';
import { modelOf, withModel } from './openai-request.js';
import { unreadResponsesTokens } from './unread-text.estimator.js';

// Base64 audio, not text: its tokens are only known from the final usage.
const AUDIO_DELTA = 'response.audio.delta';

/**
 * The smallest `max_output_tokens` the Responses API accepts: below it the API answers HTTP 400,
 * so a budget that cannot grant this many output tokens refuses the call instead of sending it.
 */
export const RESPONSES_MIN_OUTPUT_TOKENS = 16;

/** `responses.create`: plain and streamed. */
export const responsesEndpoint: ProviderEndpoint = {
  name: 'responses',
  provider: 'openai',
  modelOf,
  withModel,
  countInput: (body, model) => ({ inputTokens: countInput(body, model) }),
  output: {
    requested: (body) => positiveCap(body.max_output_tokens),
    minimum: () => RESPONSES_MIN_OUTPUT_TOKENS,
    choices: () => 1,
    withCap: (body, cap) => ({
      ...body,
      max_output_tokens: Math.min(positiveCap(body.max_output_tokens) ?? Infinity, cap),
    }),
  },
  isStream: (body) => body.stream === true,
  // Streamed responses always end with an event carrying the whole response and its usage.
  prepareStream: (body) => ({ body, injected: false }),
  usageOf(data) {
    const response = record(data);
    return response && usageOf(response.usage, response.model);
  },
  outputOf(data, sink) {
    const output = record(data)?.output;
    if (!Array.isArray(output)) return;
    output.forEach((item, i) => addItem(sink, String(i), record(item)));
  },
  truncated: (data) => isCutByCap(record(data)),
  streamObserver: () => new ResponsesStreamObserver(),
};

function countInput(body: RequestBody, model: string): number {
  const { input, instructions, tools, text, prompt } = body;
  try {
    const counted = countResponsesInput({
      model,
      input,
      instructions,
      tools,
      text,
      prompt,
    } as Parameters<typeof countResponsesInput>[0]);
    // The formula counts non-text values where text belongs as 0; count them conservatively.
    return counted + unreadResponsesTokens(input, instructions);
  } catch {
    return estimateTokens(JSON.stringify([input ?? null, instructions ?? null, tools ?? null]));
  }
}

class ResponsesStreamObserver implements StreamObserver {
  usage: ReportedUsage | undefined;
  truncated = false;

  observe(item: unknown, sink: OutputSink): boolean {
    const event = record(item);
    if (!event) return true;
    const type = typeof event.type === 'string' ? event.type : '';
    // Every `*.delta` event carries generated text: output text, refusals, tool arguments, reasoning.
    if (type.endsWith('.delta') && type !== AUDIO_DELTA && typeof event.delta === 'string') {
      sink.add(
        `${String(event.output_index ?? 0)}/${String(event.content_index ?? 0)}`,
        event.delta,
      );
    }
    const response = record(event.response);
    if (response && response.usage !== undefined && response.usage !== null) {
      this.usage = usageOf(response.usage, response.model) ?? this.usage;
    }
    if (isCutByCap(response)) this.truncated = true;
    return true;
  }
}

function isCutByCap(response: Record<string, unknown> | undefined): boolean {
  return (
    response?.status === 'incomplete' &&
    record(response.incomplete_details)?.reason === 'max_output_tokens'
  );
}

function addItem(sink: OutputSink, channel: string, item: Record<string, unknown> | undefined) {
  if (!item) return;
  for (const field of ['arguments', 'input', 'code']) {
    if (typeof item[field] === 'string') sink.add(channel, item[field]);
  }
  if (item.type === 'function_call' && typeof item.name === 'string') sink.add(channel, item.name);
  for (const list of [item.content, item.summary]) {
    if (!Array.isArray(list)) continue;
    list.forEach((part, j) => {
      const p = record(part);
      for (const field of ['text', 'refusal']) {
        if (typeof p?.[field] === 'string') sink.add(`${channel}/${j}`, p[field]);
      }
    });
  }
}

function usageOf(value: unknown, model: unknown): ReportedUsage | undefined {
  const usage = record(value);
  if (!usage) return undefined;
  return {
    inputTokens: tokenCount(usage.input_tokens),
    outputTokens: tokenCount(usage.output_tokens),
    cachedInputTokens: tokenCount(record(usage.input_tokens_details)?.cached_tokens),
    reasoningTokens: tokenCount(record(usage.output_tokens_details)?.reasoning_tokens),
    model: typeof model === 'string' ? model : undefined,
  };
}
