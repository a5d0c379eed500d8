import { encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countClaudeOutputLow } from '../../../lib/providers/anthropic/claude-text.estimator.js';
import { countClaudeTokens } from '../../../lib/testing/anthropic/claude-token.counter.js';
import { CORPUS } from '../counting/token-corpus.fixture.js';

// The stream cut's count of Claude output must never pass what a real tokenizer charges, on any
// text: the references are o200k, cl100k and the testing kit's Claude counter (the lowest wins).
const reference = (text: string) =>
  Math.min(
    o200k(text, { disallowedSpecial: new Set() }).length,
    cl100k(text, { disallowedSpecial: new Set() }).length,
    countClaudeTokens(text, 'claude-3'),
  );

const SYMBOL_HEAVY: Record<string, string> = {
  report: Array.from({ length: 20 }, () => `${'='.repeat(60)}\nREPORT\n${'='.repeat(60)}`).join(
    '\n',
  ),
  dashes: '-'.repeat(4000),
  hashes: `${'#'.repeat(80)}\n`.repeat(30),
  table: Array.from({ length: 50 }, () => '|------|------|------|\n| a    | b    | c    |').join(
    '\n',
  ),
  markdown: '# Title\n\nSome text here.\n\n---\n\n'.repeat(100),
  underlines: `Heading\n${'='.repeat(7)}\n\n`.repeat(100),
  boxes: `┌${'─'.repeat(78)}┐\n│ cell │\n└${'─'.repeat(78)}┘\n`.repeat(20),
  indented: `${'        '.repeat(6)}return value\n`.repeat(100),
  newlines: '\n'.repeat(4000),
  repeated: 'abc'.repeat(2000),
};

describe('countClaudeOutputLow', () => {
  it('never passes the lowest reference count on runs of repeated symbols', () => {
    for (const [name, text] of Object.entries(SYMBOL_HEAVY)) {
      expect({ name, low: countClaudeOutputLow(text) <= reference(text) }).toEqual({
        name,
        low: true,
      });
    }
  });

  it('never passes the lowest reference count on the corpus', () => {
    for (const { kind, text } of CORPUS) {
      expect({ kind, low: countClaudeOutputLow(text) <= reference(text) }).toEqual({
        kind,
        low: true,
      });
    }
  });

  it('counts text split into deltas at least as high as the whole', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(), (text, at) => {
        const cut = text.length === 0 ? 0 : at % text.length;
        const pieces =
          countClaudeOutputLow(text.slice(0, cut)) + countClaudeOutputLow(text.slice(cut));
        expect(pieces).toBeGreaterThanOrEqual(countClaudeOutputLow(text));
      }),
      { numRuns: 2000 },
    );
  });
});
