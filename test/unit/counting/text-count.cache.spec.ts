import { describe, expect, it } from 'vitest';
import { gptTokenizerEncoder } from '../../../lib/counting/gpt-tokenizer.encoder.js';
import {
  DEFAULT_CACHE_MAX_CHARS,
  DEFAULT_CACHE_SIZE,
  TokenCounter,
  type ChatMessage,
  type EncodingName,
  type TokenEncoder,
} from '../../../lib/counting/index.js';
import { TextCountCache } from '../../../lib/counting/text-count.cache.js';
import { CORPUS, seededRandom } from './token-corpus.fixture.js';

/** A real encoder that records every string it is asked to tokenize. */
function recordingBackend(): { seen: string[]; factory: (encoding: EncodingName) => TokenEncoder } {
  const seen: string[] = [];
  return {
    seen,
    factory: (encoding) => {
      const real = gptTokenizerEncoder(encoding);
      return {
        name: encoding,
        count: (text) => {
          seen.push(text);
          return real.count(text);
        },
      };
    },
  };
}

/** An agent loop's conversation after `turns` user/assistant exchanges. */
function conversation(turns: number): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: 'system', content: CORPUS[0].text }];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({
      role: 'user',
      content: `Question ${turn}: ${CORPUS[turn % CORPUS.length].text}`,
    });
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: [
        {
          id: `call_${turn}`,
          type: 'function',
          function: { name: 'lookup', arguments: `{"q":${turn}}` },
        },
      ],
    });
    messages.push({ role: 'tool', tool_call_id: `call_${turn}`, content: `result ${turn}` });
  }
  return messages;
}

describe('string-count cache', () => {
  it('gives the same counts as an uncached counter, turn after turn', () => {
    const cached = new TokenCounter();
    const uncached = new TokenCounter({ cacheSize: 0 });
    for (let turns = 1; turns <= 12; turns++) {
      const messages = conversation(turns);
      for (const model of ['gpt-4o', 'gpt-4', 'claude-3-5-sonnet']) {
        expect(cached.countChat({ model, messages })).toBe(uncached.countChat({ model, messages }));
      }
    }
    expect(cached.cacheStats().hits).toBeGreaterThan(0);
    expect(uncached.cacheStats()).toMatchObject({ entries: 0, hits: 0 });
  });

  it('tokenizes only the new messages when a conversation is resent', () => {
    const { seen, factory } = recordingBackend();
    const counter = new TokenCounter({ backend: factory });
    const messages = conversation(5);
    counter.countChat({ model: 'gpt-4o', messages });
    seen.length = 0;

    const next: ChatMessage[] = [...messages, { role: 'user', content: 'And one more question?' }];
    counter.countChat({ model: 'gpt-4o', messages: next });
    expect(seen).toEqual(['And one more question?']);
  });

  it('keeps encodings apart', () => {
    const counter = new TokenCounter();
    const text = CORPUS.find((sample) => sample.kind === 'chinese')?.text ?? '';
    const o200k = counter.count(text, 'gpt-4o');
    const cl100k = counter.count(text, 'gpt-4');
    expect(o200k).not.toBe(cl100k);
    expect(counter.count(text, 'gpt-4o')).toBe(o200k);
    expect(counter.count(text, 'gpt-4')).toBe(cl100k);
    expect(counter.cacheStats()).toMatchObject({ entries: 1, hits: 2, misses: 2 });
  });

  it('stays within its entry bound after many distinct messages', () => {
    const counter = new TokenCounter({ cacheSize: 100 });
    for (let i = 0; i < 5_000; i++) counter.count(`message number ${i} with some text`, 'gpt-4o');
    const stats = counter.cacheStats();
    expect(stats.entries).toBe(100);
    expect(stats.chars).toBeLessThanOrEqual(stats.maxChars);
  });

  it('stays within its character bound, and skips texts larger than the bound', () => {
    const counter = new TokenCounter({ cacheSize: 1_000, cacheMaxChars: 10_000 });
    for (let i = 0; i < 500; i++) counter.count(`${i} `.padEnd(900, 'lorem ipsum '), 'gpt-4o');
    let stats = counter.cacheStats();
    expect(stats.chars).toBeLessThanOrEqual(10_000);
    expect(stats.entries).toBe(Math.floor(10_000 / 900));

    counter.clearCache();
    counter.count('x'.repeat(20_000), 'gpt-4o');
    stats = counter.cacheStats();
    expect(stats).toMatchObject({ entries: 0, chars: 0 });
  });

  it('evicts the least recently used text first', () => {
    const cache = new TextCountCache({ maxEntries: 2, maxChars: 1_000 });
    const compute = (text: string): number => text.length;
    cache.count('a', 'o200k_base', compute);
    cache.count('bb', 'o200k_base', compute);
    cache.count('a', 'o200k_base', compute); // refreshes "a"
    cache.count('ccc', 'o200k_base', compute); // evicts "bb"
    let calls = 0;
    const counting = (text: string): number => {
      calls++;
      return text.length;
    };
    cache.count('a', 'o200k_base', counting);
    expect(calls).toBe(0);
    cache.count('bb', 'o200k_base', counting);
    expect(calls).toBe(1);
  });

  it('matches a reference LRU over a long random sequence of lookups', () => {
    const limits = { maxEntries: 20, maxChars: 150 };
    const cache = new TextCountCache(limits);
    const reference: string[] = []; // most recent last
    const next = seededRandom(42);
    for (let step = 0; step < 20_000; step++) {
      const text = 'k'.repeat(1 + Math.floor(next() * 12)) + String(Math.floor(next() * 40));
      let computed = false;
      cache.count(text, 'o200k_base', (t) => {
        computed = true;
        return t.length;
      });
      const at = reference.indexOf(text);
      expect(computed, `step ${step}`).toBe(at === -1);
      if (at !== -1) reference.splice(at, 1);
      reference.push(text);
      let chars = reference.reduce((sum, t) => sum + t.length, 0);
      while (reference.length > limits.maxEntries || chars > limits.maxChars) {
        chars -= (reference.shift() as string).length;
      }
      expect(cache.stats()).toMatchObject({ entries: reference.length, chars });
    }
  });

  it('documents its default bound', () => {
    expect(new TokenCounter().cacheStats()).toMatchObject({
      maxEntries: DEFAULT_CACHE_SIZE,
      maxChars: DEFAULT_CACHE_MAX_CHARS,
    });
    expect(DEFAULT_CACHE_SIZE).toBe(10_000);
    expect(DEFAULT_CACHE_MAX_CHARS).toBe(8_000_000);
  });
});
