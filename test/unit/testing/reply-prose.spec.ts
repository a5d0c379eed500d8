import fc from 'fast-check';
import { encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as r50k } from 'gpt-tokenizer/encoding/r50k_base';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../../../lib/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { PROSE_UNITS, replyText } from '../../../lib/testing/reply.planner.js';

const ENCODERS = { o200k, cl100k, r50k };

describe("the fake's 'prose' replies", () => {
  it('are one token per unit in every encoding, for every unit', () => {
    for (const [name, encode] of Object.entries(ENCODERS)) {
      const wrong = PROSE_UNITS.filter((unit) => encode(unit).length !== 1);
      expect(wrong, name).toEqual([]);
    }
    expect(new Set(PROSE_UNITS).size).toBeGreaterThan(60); // varied, not one word repeated
  });

  it('count exactly N tokens for any slice, and chunks join into the whole reply', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 600 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 12 }),
        (offset, chunks) => {
          const total = chunks.reduce((a, b) => a + b, 0);
          const whole = replyText(total, 'prose', offset);
          for (const encode of Object.values(ENCODERS)) expect(encode(whole).length).toBe(total);
          let at = offset;
          const joined = chunks.map((n) => replyText(n, 'prose', (at += n) - n)).join('');
          expect(joined).toBe(whole);
        },
      ),
    );
  });
});

describe("startFakeOpenAI({ replyStyle: 'prose' }) through the real SDK", () => {
  let fake: FakeOpenAIServer;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI({ replyStyle: 'prose', replyTokens: 150, tokensPerChunk: 7 });
    client = new OpenAI({ apiKey: 'test', baseURL: fake.baseURL, maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('reports usage equal to the count of the prose it returned, streamed or not', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me about budgets' }];
    const plain = await client.chat.completions.create({ model: 'gpt-4o', messages });
    const content = plain.choices[0]!.message.content!;
    expect(content).toMatch(/^ A budget caps what an agent may spend/);
    expect(plain.usage!.completion_tokens).toBe(150);
    expect(countTokens(content, 'gpt-4o')).toBe(150);

    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      stream: true,
    });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(content);

    const response = await client.responses.create({ model: 'gpt-4o', input: 'Tell me more' });
    expect(response.output_text).toBe(content);
    expect(response.usage!.output_tokens).toBe(150);
  });

  it('refuses an unknown style, naming it', async () => {
    await expect(startFakeOpenAI({ replyStyle: 'lorem' as never })).rejects.toThrow(
      /replyStyle.*"lorem"|"lorem".*replyStyle/,
    );
  });
});
