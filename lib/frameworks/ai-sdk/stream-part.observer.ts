import type { LanguageModelV4StreamPart } from '@ai-sdk/provider';
import type {
  OutputSink,
  ReportedUsage,
  StreamObserver,
} from '../../metering/provider-endpoint.interface.js';
import { readUsage } from './usage.reader.js';

/**
 * Reads the parts of an AI SDK language-model stream: text, reasoning and tool-input deltas are
 * output (a tool call whose input was not streamed counts when it arrives whole), the model comes
 * from `response-metadata`, the usage from `finish`. Hides nothing: Tokencap asks for no part.
 */
export class StreamPartObserver implements StreamObserver {
  usage: ReportedUsage | undefined;
  truncated = false;
  private model: string | undefined;
  private readonly streamedCalls = new Set<string>();

  observe(item: unknown, sink: OutputSink): boolean {
    const part = item as LanguageModelV4StreamPart;
    switch (part?.type) {
      case 'text-delta':
        sink.add(`text/${part.id}`, part.delta);
        break;
      case 'reasoning-delta':
        sink.add(`reasoning/${part.id}`, part.delta);
        break;
      case 'tool-input-start':
        this.streamedCalls.add(part.id);
        sink.add(`tool/${part.id}`, part.toolName);
        break;
      case 'tool-input-delta':
        sink.add(`tool/${part.id}`, part.delta);
        break;
      case 'tool-call':
        if (!this.streamedCalls.has(part.toolCallId)) {
          sink.add(`tool/${part.toolCallId}`, part.toolName + part.input);
        }
        break;
      case 'response-metadata':
        if (typeof part.modelId === 'string') this.model = part.modelId;
        break;
      case 'finish': {
        const reported = readUsage(part.usage, this.model);
        // Usage without an output count is no final report (an interrupted stream).
        if (reported?.outputTokens !== undefined) this.usage = reported;
        else if (reported?.inputTokens !== undefined) {
          this.usage = { ...reported, outputTokens: undefined };
        }
        if (part.finishReason?.unified === 'length') this.truncated = true;
        break;
      }
    }
    return true;
  }
}
