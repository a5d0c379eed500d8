import { record } from '../../metering/json.guards.js';
import type { OutputSink, ProviderEndpoint } from '../../metering/provider-endpoint.interface.js';
import { countClaudeOutputLow } from './claude-text.estimator.js';
import { type CountTokensMethod, countWithApi } from './count-tokens.counter.js';
import { messageUsage } from './anthropic-usage.reader.js';
import { messagesOutputCap } from './messages-output.cap.js';
import { estimateMessagesInput } from './messages-request.estimator.js';
import { MessagesStreamObserver } from './messages-stream.observer.js';

/**
 * `messages.create` (plain and streamed; `messages.stream()` and `messages.parse()` call it).
 * `countTokens` set: the input is counted by Anthropic's `count_tokens` endpoint (exact);
 * otherwise by the conservative estimator. Output usage that never came is charged as granted:
 * thinking is billed before any visible text, and the seen text is only counted low.
 */
export function messagesEndpoint(name: string, countTokens?: CountTokensMethod): ProviderEndpoint {
  return {
    name,
    provider: 'anthropic',
    modelOf: (body) => (typeof body.model === 'string' ? body.model : ''),
    withModel: (body, model) => ({ ...body, model }),
    countInput: countTokens
      ? (body, model) => countWithApi(countTokens, body, model)
      : (body, model) => estimateMessagesInput(body, model),
    output: messagesOutputCap,
    isStream: (body) => body.stream === true,
    // Every Messages stream reports its usage (message_start, message_delta): nothing to ask for.
    prepareStream: (body) => ({ body, injected: false }),
    usageOf: messageUsage,
    outputOf: (data, sink) => addContent(sink, record(data)?.content),
    truncated: (data) => record(data)?.stop_reason === 'max_tokens',
    streamObserver: () => new MessagesStreamObserver(),
    countOutput: (text) => countClaudeOutputLow(text),
    unreportedOutput: 'granted',
  };
}

/** Text, thinking and tool calls of a message's content blocks. */
function addContent(sink: OutputSink, content: unknown): void {
  if (!Array.isArray(content)) return;
  content.forEach((part, i) => {
    const block = record(part);
    if (!block) return;
    const channel = String(i);
    for (const field of ['text', 'thinking', 'name']) {
      if (typeof block[field] === 'string') sink.add(channel, block[field]);
    }
    if (block.input !== undefined) {
      try {
        sink.add(channel, JSON.stringify(block.input) ?? '');
      } catch {
        // Parsed JSON always serialises; a value that does not is not output.
      }
    }
  });
}
