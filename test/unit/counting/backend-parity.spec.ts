import { describe, expect, it } from 'vitest';
import { gptTokenizerEncoder } from '../../../lib/counting/gpt-tokenizer.encoder.js';
import { jsTiktokenEncoder } from '../../../lib/counting/js-tiktoken.encoder.js';
import { TokenCounter, type EncodingName } from '../../../lib/counting/index.js';
import { CORPUS, randomBase64 } from './token-corpus.fixture.js';

const ENCODINGS: EncodingName[] = ['o200k_base', 'cl100k_base'];
const MODEL_FOR: Record<EncodingName, string> = { o200k_base: 'gpt-4o', cl100k_base: 'gpt-4' };

const SPECIAL_STRINGS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|im_sep|>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|endofprompt|>',
  '<|start|>',
  '<|message|>',
  '<|end|>',
  '<|return|>',
  'before<|endoftext|>after',
  '<|endoftext|><|endoftext|>',
  '<|endoftext',
];

describe.each(ENCODINGS)('backend parity on %s', (encoding) => {
  const gpt = gptTokenizerEncoder(encoding);
  const tiktoken = jsTiktokenEncoder(encoding);

  it.each(CORPUS.map((sample) => [sample.kind, sample.text] as const))(
    'identical raw counts: %s',
    (_kind, text) => {
      expect(tiktoken.count(text)).toBe(gpt.count(text));
    },
  );

  it('identical counts through TokenCounter, long-run splitting included', () => {
    const a = new TokenCounter({ backend: 'gpt-tokenizer', cacheSize: 0 });
    const b = new TokenCounter({ backend: 'js-tiktoken', cacheSize: 0 });
    const model = MODEL_FOR[encoding];
    const hostile = ['x'.repeat(1000), '-'.repeat(700), ' '.repeat(500), randomBase64(3000, 9)];
    for (const text of [...CORPUS.map((sample) => sample.text), ...hostile]) {
      expect(b.count(text, model)).toBe(a.count(text, model));
    }
  });

  it('counts special-token strings as plain text and never throws', () => {
    for (const text of SPECIAL_STRINGS) {
      const count = gpt.count(text);
      expect(tiktoken.count(text)).toBe(count);
      // A special token would be a single token; as text each is several.
      if (text.startsWith('<|') && text.endsWith('|>')) expect(count).toBeGreaterThan(1);
    }
  });

  it('reports its encoding name', () => {
    expect(gpt.name).toBe(encoding);
    expect(tiktoken.name).toBe(encoding);
  });

  it('loads each encoding once per process', () => {
    expect(gptTokenizerEncoder(encoding)).toBe(gpt);
    expect(jsTiktokenEncoder(encoding)).toBe(tiktoken);
  });
});
