import { countResponsesInput, estimateTokens } from '../counting/index.js';
import {
  type Endpoint,
  type OutputSink,
  positiveCap,
  record,
  type ReportedUsage,
  type StreamObserver,
  tokenCount,
} from './endpoint.interface.js';
import { unreadResponsesTokens } from './unread-text.estimator.js';

// Base64 audio, not text: its tokens are only known from the final usage.
const AUDIO_DELTA = 'response.audio.delta';

/** `responses.create`: plain and streamed. */
export const responsesEndpoint: Endpoint = {
  name: 'responses',
  producesOutput: true,

  countPrompt(body, model) {
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
  },

  outputCap(body) {
    return positiveCap(body.max_output_tokens);
  },

  choices() {
    return 1;
  },

  withOutputCap(body, cap) {
    return {
      ...body,
      max_output_tokens: Math.min(positiveCap(body.max_output_tokens) ?? Infinity, cap),
    };
  },

  prepareStream(body) {
    // Streamed responses always end with an event carrying the whole response and its usage.
    return { body, injected: false };
  },

  reportedUsage(data) {
    const response = record(data);
    return response && usageOf(response.usage, response.model);
  },

  outputOf(data, sink) {
    const output = record(data)?.output;
    if (!Array.isArray(output)) return;
    output.forEach((item, i) => addItem(sink, String(i), record(item)));
  },

  truncated(data) {
    return isCutByCap(record(data));
  },

  streamObserver() {
    return new ResponsesStreamObserver();
  },
};

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
    prompt: tokenCount(usage.input_tokens),
    output: tokenCount(usage.output_tokens),
    cached: tokenCount(record(usage.input_tokens_details)?.cached_tokens),
    reasoning: tokenCount(record(usage.output_tokens_details)?.reasoning_tokens),
    model: typeof model === 'string' ? model : undefined,
  };
}
