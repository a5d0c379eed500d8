import { AIMessageChunk } from '@langchain/core/messages';
import { ChatGenerationChunk } from '@langchain/core/outputs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkObserver } from '../../../lib/frameworks/langchain/chat-model.endpoint.js';
import { readUsageMetadata } from '../../../lib/frameworks/langchain/langchain-usage.reader.js';
import { OutputCounter } from '../../../lib/metering/output.counter.js';

const count = fc.nat({ max: 1_000_000 });

function chunk(usage: { input_tokens: number; output_tokens: number }, text = '', model?: string) {
  return new ChatGenerationChunk({
    text,
    message: new AIMessageChunk({
      content: text,
      usage_metadata: { ...usage, total_tokens: usage.input_tokens + usage.output_tokens },
      response_metadata: model ? { model_name: model } : {},
    }),
  });
}

describe('readUsageMetadata', () => {
  it('maps every usage_metadata field to the library vocabulary, for any counts', () => {
    fc.assert(
      fc.property(
        count,
        count,
        count,
        count,
        count,
        count,
        (input, output, read, written, fiveMinutes, reasoning) => {
          const usage = readUsageMetadata({
            input_tokens: input,
            output_tokens: output,
            input_token_details: {
              cache_read: read,
              cache_creation: written,
              ephemeral_5m_input_tokens: fiveMinutes,
            },
            output_token_details: { reasoning },
          })!;
          expect(usage.inputTokens).toBe(input);
          expect(usage.outputTokens).toBe(output);
          expect(usage.cachedInputTokens).toBe(read > 0 ? read : undefined);
          // Writes whose lifetime is not said are priced at the dearer 1-hour rate.
          const five = Math.min(fiveMinutes, written);
          expect(usage.cacheWrite5mTokens).toBe(written > 0 ? five : undefined);
          expect(usage.cacheWrite1hTokens).toBe(written > 0 ? written - five : undefined);
          expect(usage.reasoningTokens).toBe(reasoning > 0 ? reasoning : undefined);
        },
      ),
    );
  });

  it('reads a malformed count as absent, never as a number', () => {
    for (const bad of [-1, 1.5, '12', null, Number.NaN]) {
      const usage = readUsageMetadata({ input_tokens: bad, output_tokens: bad })!;
      expect(usage.inputTokens).toBeUndefined();
      expect(usage.outputTokens).toBeUndefined();
    }
    expect(readUsageMetadata(undefined)).toBeUndefined();
  });
});

describe('ChunkObserver (LangChain stream chunks)', () => {
  // Anthropic: message_start reports the input and a first output count; message_delta the running
  // output total. LangChain's own sum of the chunks counts the first output twice.
  const anthropicStream = fc
    .tuple(count, fc.nat({ max: 5 }), count, fc.array(fc.string(), { maxLength: 5 }))
    .map(([input, first, more, texts]) => ({ input, first, total: first + more, texts }));

  it('settles a stream that ended by itself at its input and its last output total', () => {
    fc.assert(
      fc.property(anthropicStream, ({ input, first, total, texts }) => {
        const observer = new ChunkObserver();
        const sink = new OutputCounter('claude-haiku-4-5');
        observer.observe(
          chunk({ input_tokens: input, output_tokens: first }, '', 'claude-haiku-4-5'),
          sink,
        );
        for (const text of texts)
          observer.observe(chunk({ input_tokens: 0, output_tokens: 0 }, text), sink);
        observer.observe(chunk({ input_tokens: 0, output_tokens: total }), sink);
        // Before the stream ends by itself, no output count is taken from a partial report.
        expect(observer.usage).toEqual({ model: 'claude-haiku-4-5', inputTokens: input });
        observer.complete();
        expect(observer.usage).toEqual({
          model: 'claude-haiku-4-5',
          inputTokens: input,
          outputTokens: total,
        });
      }),
    );
  });

  it('marks a stream the output cap cut short (finish_reason length, stop_reason max_tokens)', () => {
    for (const metadata of [{ finish_reason: 'length' }, { stop_reason: 'max_tokens' }]) {
      const observer = new ChunkObserver();
      observer.observe(
        new ChatGenerationChunk({
          text: '',
          message: new AIMessageChunk({ content: '', response_metadata: metadata }),
        }),
        new OutputCounter('gpt-4o-mini'),
      );
      expect(observer.truncated).toBe(true);
    }
    const delta = new ChunkObserver();
    delta.observe(
      new ChatGenerationChunk({
        text: '',
        message: new AIMessageChunk({
          content: '',
          additional_kwargs: { stop_reason: 'max_tokens' },
        }),
      }),
      new OutputCounter('claude-haiku-4-5'),
    );
    expect(delta.truncated).toBe(true);
  });

  it('counts the text and the tool-call arguments it sees', () => {
    const observer = new ChunkObserver();
    const sink = new OutputCounter('gpt-4o-mini');
    observer.observe(
      new ChatGenerationChunk({
        text: 'hello world',
        message: new AIMessageChunk({
          content: 'hello world',
          tool_call_chunks: [
            { index: 0, name: 'search', args: '{"query":"costs"}', type: 'tool_call_chunk' },
          ],
        }),
      }),
      sink,
    );
    const expected = new OutputCounter('gpt-4o-mini');
    expected.add('0', 'hello world');
    expected.add('0/tool0', 'search');
    expected.add('0/tool0', '{"query":"costs"}');
    expect(sink.exact()).toBe(expected.exact());
    expect(sink.exact()).toBeGreaterThan(2);
  });
});
