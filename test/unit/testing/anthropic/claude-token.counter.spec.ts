import fc from 'fast-check';
import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';

import {
  countClaudeTokens,
  type ClaudeTokenizer,
} from '../../../../lib/testing/anthropic/claude-token.counter.js';
import { generateProse } from '../../../../lib/testing/anthropic/prose.generator.js';
import { splitJson, splitText } from '../../../../lib/testing/anthropic/stream-delta.splitter.js';
import { CORPUS } from '../../counting/token-corpus.fixture.js';

const TOKENIZERS: ClaudeTokenizer[] = ['claude-3', 'claude-4.7'];

describe('countClaudeTokens', () => {
  it.each([
    // [text, claude-3, claude-4.7]: each row follows the documented rules by hand.
    ['', 0, 0],
    ['Hello', 1, 2], // 5 letters: ceil(5/6) = 1, ceil(5/4) = 2
    ['Hello, world', 3, 5], // Hello · , · " world"
    ['Hello there, how are you?', 7, 9],
    ['internationalization', 4, 5], // 20 letters: ceil(20/6), ceil(20/4)
    ['getUserName', 3, 3], // get · User · Name
    ['HTTPServer', 2, 3], // HTTP · Server
    ["don't", 2, 2], // don · 't
    ['12345678', 3, 3], // digits by threes
    ['-----------------', 3, 3], // a rule: ceil(17/8)
    ['a  b', 3, 3], // a · " " (ceil(1/4)) · " b"
    ['\n\n\n', 2, 2], // ceil(3/2)
    ['日本語', 3, 3],
    ['Москва', 3, 3], // ceil(6/2)
    ['🚀', 3, 3],
  ] as const)('counts %j as %i (claude-3) and %i (claude-4.7)', (text, v3, v47) => {
    expect(countClaudeTokens(text, 'claude-3')).toBe(v3);
    expect(countClaudeTokens(text, 'claude-4.7')).toBe(v47);
  });

  it.each(TOKENIZERS)('is additive where whitespace starts the second part (%s)', (tokenizer) => {
    const text = fc.stringMatching(/^[A-Za-z0-9.,;:!?'"()\n\t -]{0,40}$/);
    const space = fc.stringMatching(/^[ \n\t]{1,3}$/);
    fc.assert(
      fc.property(text, space, text, (a, ws, b) => {
        fc.pre(a !== '' && !/\s$/.test(a));
        expect(countClaudeTokens(a + ws + b, tokenizer)).toBe(
          countClaudeTokens(a, tokenizer) + countClaudeTokens(ws + b, tokenizer),
        );
      }),
      { numRuns: 1000 },
    );
  });

  // The ratios quoted in claude-token.counter.ts and docs/testing-kit.md come from here.
  it('lands near the documented ratios to cl100k_base on the test corpus', () => {
    const cl100k = getEncoding('cl100k_base');
    const ratios = (kind: string) => {
      const text = CORPUS.find((s) => s.kind === kind)!.text;
      const v3 = countClaudeTokens(text, 'claude-3');
      return {
        toCl100k: v3 / cl100k.encode(text, 'all').length,
        dense: countClaudeTokens(text, 'claude-4.7') / v3,
      };
    };
    const prose = ratios('prose-en');
    expect(prose.toCl100k).toBeCloseTo(1.18, 2);
    expect(prose.dense).toBeGreaterThanOrEqual(1.1);
    expect(prose.dense).toBeLessThanOrEqual(1.2);
    for (const kind of ['code-ts', 'code-py', 'json-pretty', 'markdown']) {
      expect(ratios(kind).toCl100k).toBeGreaterThanOrEqual(1.2);
      expect(ratios(kind).toCl100k).toBeLessThanOrEqual(1.5);
    }
    for (const kind of ['chinese', 'japanese', 'korean']) {
      expect(ratios(kind).toCl100k).toBeGreaterThanOrEqual(0.85);
      expect(ratios(kind).toCl100k).toBeLessThanOrEqual(1);
    }
  });

  it('counts the denser 2026 tokenizer at or above the classic one on every corpus sample', () => {
    for (const { text } of CORPUS) {
      expect(countClaudeTokens(text, 'claude-4.7')).toBeGreaterThanOrEqual(
        countClaudeTokens(text, 'claude-3'),
      );
    }
  });
});

describe('generateProse', () => {
  it.each(TOKENIZERS)('writes exactly the asked number of tokens (%s)', (tokenizer) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.nat(),
        fc.constantFrom('reply', 'thinking' as const),
        (tokens, seed, voice) => {
          const text = generateProse(tokens, seed, tokenizer, voice);
          expect(countClaudeTokens(text, tokenizer)).toBe(tokens);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('varies its words and its opening with the seed', () => {
    const text = generateProse(300, 7, 'claude-3');
    const words = text.toLowerCase().match(/[a-z]+/g)!;
    expect(new Set(words).size).toBeGreaterThan(100);
    expect(generateProse(20, 1, 'claude-3')).not.toBe(generateProse(20, 2, 'claude-3'));
    expect(generateProse(20, 1, 'claude-3')).toBe(generateProse(20, 1, 'claude-3'));
  });
});

describe('stream deltas', () => {
  it.each(TOKENIZERS)('split a reply into deltas whose tokens add up to the whole (%s)', (t) => {
    const count = (text: string) => countClaudeTokens(text, t);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 9 }), (n, per) => {
        const text = generateProse(n, n, t);
        const deltas = splitText(text, per, count);
        expect(deltas.map((d) => d.text).join('')).toBe(text);
        expect(deltas.reduce((s, d) => s + d.tokens, 0)).toBe(n);
        for (const d of deltas) expect(d.tokens).toBe(count(d.text));
        for (const d of deltas.slice(0, -1)) expect(d.tokens).toBeGreaterThanOrEqual(per);
      }),
      { numRuns: 100 },
    );
  });

  it('spread a tool call over its JSON pieces without losing a token', () => {
    fc.assert(
      fc.property(
        fc.json(),
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 5 }),
        (json, tokens, per) => {
          fc.pre(json.length > 0);
          const deltas = splitJson(json, per, tokens);
          expect(deltas.map((d) => d.text).join('')).toBe(json);
          expect(deltas.reduce((s, d) => s + d.tokens, 0)).toBe(tokens);
          for (const d of deltas) expect(d.tokens).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });
});
