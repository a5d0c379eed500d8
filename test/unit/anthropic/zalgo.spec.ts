import { encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { estimateClaudeTokens } from '../../../lib/providers/anthropic/claude-text.estimator.js';
import { budget, MODEL, useHarness } from './anthropic-wrapper.fixture.js';

// Letters each carrying two combining diacritics (U+0300–U+036F) drawn by a seeded generator:
// random pairs cannot all be merged, so any byte-level BPE spends about a token on each mark.
function zalgo(letters: number, seed = 7): string {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  let text = '';
  for (let i = 0; i < letters; i++) {
    text += String.fromCharCode(0x61 + (next() % 26));
    text += String.fromCharCode(0x300 + (next() % 0x70), 0x300 + (next() % 0x70));
  }
  return text;
}

describe('estimateClaudeTokens on text with combining marks', () => {
  it('is an upper bound of real BPEs on Zalgo text (it was about 7× below)', () => {
    for (const letters of [10, 500, 2000]) {
      const text = zalgo(letters);
      const reference = Math.max(o200k(text).length, cl100k(text).length);
      expect(estimateClaudeTokens(text, 'classic')).toBeGreaterThanOrEqual(reference);
      expect(estimateClaudeTokens(text, 'dense')).toBeGreaterThanOrEqual(reference);
    }
  });
});

describe('wrapAnthropic: a Zalgo prompt', () => {
  const h = useHarness({ replyTokens: 10 });

  it('a hard-stop budget a real tokenizer would overspend refuses it, nothing sent', async () => {
    const text = zalgo(500);
    expect(o200k(text).length).toBeGreaterThan(1000);
    const b = budget(1000);
    const client = h.client();
    await expect(
      h.within(b, () =>
        client.messages.create({
          model: MODEL,
          max_tokens: 50,
          messages: [{ role: 'user', content: text }],
        }),
      ),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toEqual([]);
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
  });
});
