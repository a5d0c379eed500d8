import { record } from '../../metering/json.guards.js';
import type {
  OutputSink,
  ReportedUsage,
  StreamObserver,
} from '../../metering/provider-endpoint.interface.js';
import { type InputUsage, readInputUsage, readOutputUsage } from './anthropic-usage.reader.js';

/**
 * Reads a Messages stream: the exact input usage arrives in `message_start`, the output (and any
 * update of the input) in `message_delta`, cumulative; text, thinking and tool input arrive in
 * `content_block_delta` events. Output usage is taken only from `message_delta`, so a stream that
 * ends before it is settled from an estimate. Nothing is hidden from the caller.
 */
export class MessagesStreamObserver implements StreamObserver {
  truncated = false;
  private model: string | undefined;
  private input: InputUsage | undefined;
  private startUsage: Record<string, unknown> | undefined;
  private output: Pick<ReportedUsage, 'outputTokens' | 'reasoningTokens'> | undefined;

  get usage(): ReportedUsage | undefined {
    if (!this.input && !this.output) return undefined;
    const usage: ReportedUsage = { ...this.input, ...this.output };
    if (this.model !== undefined) usage.model = this.model;
    return usage;
  }

  observe(item: unknown, sink: OutputSink): boolean {
    const event = record(item);
    if (!event) return true;
    switch (event.type) {
      case 'message_start': {
        const message = record(event.message);
        if (typeof message?.model === 'string') this.model = message.model;
        this.startUsage = record(message?.usage);
        this.input = readInputUsage(this.startUsage);
        break;
      }
      case 'content_block_start': {
        const block = record(event.content_block);
        const channel = String(event.index ?? 0);
        if (typeof block?.name === 'string') sink.add(channel, block.name);
        for (const field of ['text', 'thinking']) {
          if (typeof block?.[field] === 'string') sink.add(channel, block[field]);
        }
        break;
      }
      case 'content_block_delta': {
        const delta = record(event.delta);
        const channel = String(event.index ?? 0);
        for (const field of ['text', 'thinking', 'partial_json']) {
          if (typeof delta?.[field] === 'string') sink.add(channel, delta[field]);
        }
        break;
      }
      case 'message_delta': {
        const usage = record(event.usage);
        if (usage) {
          this.output = readOutputUsage(usage);
          this.input = this.updatedInput(usage);
        }
        if (record(event.delta)?.stop_reason === 'max_tokens') this.truncated = true;
        break;
      }
      default:
    }
    return true;
  }

  /**
   * `message_delta` may restate the input (cumulative, as server tools add to it), usually
   * without the cache-write breakdown: each count it gives wins over `message_start`'s, and the
   * breakdown comes from `message_start` (what no longer adds up is priced at the 1-hour rate).
   */
  private updatedInput(usage: Record<string, unknown>): InputUsage | undefined {
    const start = this.startUsage ?? {};
    const merged: Record<string, unknown> = {};
    for (const key of INPUT_KEYS) {
      merged[key] = usage[key] === undefined || usage[key] === null ? start[key] : usage[key];
    }
    return merged.input_tokens === undefined ? this.input : readInputUsage(merged);
  }
}

const INPUT_KEYS = [
  'input_tokens',
  'cache_read_input_tokens',
  'cache_creation_input_tokens',
  'cache_creation',
] as const;
