import { record } from '../../metering/json.guards.js';
import type {
  OutputSink,
  ProviderEndpoint,
  StreamObserver,
} from '../../metering/provider-endpoint.interface.js';
import { chatCompletionsEndpoint } from '../../providers/openai/chat-completions.endpoint.js';

const chat = chatCompletionsEndpoint('max_tokens');

/**
 * A LlamaIndex LLM call on the Chat Completions adapter: counted and capped as the Chat
 * Completions body it sends, with usage and output read from each response's `raw` (the
 * provider's own response or chunk, OpenAI-shaped for the OpenAI LLM). An LLM whose `raw` carries
 * no OpenAI usage is settled from the counted input and the text seen.
 */
export const llmEndpoint: ProviderEndpoint = {
  ...chat,
  name: 'llamaindex llm',
  usageOf: (data) => chat.usageOf(record(data)?.raw),
  outputOf(data, sink) {
    const raw = record(data)?.raw;
    if (Array.isArray(record(raw)?.choices)) chat.outputOf(raw, sink);
    else addText(sink, record(data));
  },
  truncated: (data) => chat.truncated(record(data)?.raw),
  streamObserver: (injected) => new ChunkObserver(chat.streamObserver(injected)),
};

/** Reads LlamaIndex chunks (`{ delta, raw, options }`) through the Chat Completions observer. */
class ChunkObserver implements StreamObserver {
  constructor(private readonly inner: StreamObserver) {}

  get usage() {
    return this.inner.usage;
  }

  get truncated() {
    return this.inner.truncated;
  }

  observe(item: unknown, sink: OutputSink): boolean {
    const chunk = record(item);
    const raw = record(chunk?.raw);
    if (raw && Array.isArray(raw.choices)) return this.inner.observe(raw, sink);
    // Not an OpenAI chunk (`complete()` streams carry no raw): count the text it carries.
    const text = chunk?.delta ?? chunk?.text;
    if (typeof text === 'string') sink.add('0', text);
    return true;
  }
}

function addText(sink: OutputSink, response: Record<string, unknown> | undefined): void {
  const content = record(response?.message)?.content ?? response?.text;
  if (typeof content === 'string') sink.add('0', content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      const text = record(part)?.text;
      if (typeof text === 'string') sink.add('0', text);
    }
  }
}
