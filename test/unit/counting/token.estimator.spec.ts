import { describe, expect, it } from 'vitest';
import { gptTokenizerEncoder } from '../../../lib/counting/gpt-tokenizer.encoder.js';
import { countTokens, estimateTokens } from '../../../lib/counting/index.js';
import { CORPUS } from './token-corpus.fixture.js';

// Samples of machine-generated noise, where no cheap heuristic can know the merges.
const RANDOM = new Set(['base64', 'hex', 'uuids', 'random-ascii', 'random-emoji', 'random-cjk']);

// The documented bound of estimateTokens against o200k_base (see its JSDoc).
const NATURAL_BOUND = { min: 1.0, max: 2.0 };
const RANDOM_BOUND = { min: 0.85, max: 1.25 };
const RARE_CJK_MIN = 0.6;

describe('estimateTokens', () => {
  const o200k = gptTokenizerEncoder('o200k_base');
  const measured = CORPUS.filter((sample) => sample.text.length > 0).map((sample) => ({
    kind: sample.kind,
    ratio: estimateTokens(sample.text) / o200k.count(sample.text),
  }));

  it('over-estimates natural text, code and structured data, by at most 2×', () => {
    for (const { kind, ratio } of measured.filter((m) => !RANDOM.has(m.kind))) {
      expect(ratio, kind).toBeGreaterThanOrEqual(NATURAL_BOUND.min);
      expect(ratio, kind).toBeLessThanOrEqual(NATURAL_BOUND.max);
    }
  });

  it('stays within 0.85–1.25× on random base64, hex, UUIDs, ASCII and emoji', () => {
    for (const { kind, ratio } of measured.filter(
      (m) => RANDOM.has(m.kind) && m.kind !== 'random-cjk',
    )) {
      expect(ratio, kind).toBeGreaterThanOrEqual(RANDOM_BOUND.min);
      expect(ratio, kind).toBeLessThanOrEqual(RANDOM_BOUND.max);
    }
  });

  it('under-counts only rare-CJK noise, by less than 40%', () => {
    const rare = measured.find((m) => m.kind === 'random-cjk');
    expect(rare?.ratio).toBeGreaterThanOrEqual(RARE_CJK_MIN);
    expect(rare?.ratio).toBeLessThan(1);
  });

  it('over-estimates the whole corpus taken together', () => {
    const all = CORPUS.map((sample) => sample.text).join('\n');
    const ratio = estimateTokens(all) / o200k.count(all);
    expect(ratio).toBeGreaterThanOrEqual(1);
    expect(ratio).toBeLessThanOrEqual(1.5);
  });

  it('handles edge cases without throwing', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens(' ')).toBe(1);
    expect(estimateTokens('a')).toBe(1);
    expect(estimateTokens('\ud83d')).toBe(2); // a lone high surrogate
    expect(estimateTokens('\udc00')).toBe(1); // a lone low surrogate
    expect(estimateTokens('<|endoftext|>')).toBeGreaterThan(1);
    expect(estimateTokens('a'.repeat(1 << 20))).toBe(Math.ceil((1 << 20) / 6));
  });

  it('is what countTokens uses for models without a known encoding', () => {
    const text = CORPUS[0].text;
    for (const model of ['claude-3-5-sonnet', 'llama-3.1-70b', 'mistral-large-latest']) {
      expect(countTokens(text, model)).toBe(estimateTokens(text));
    }
  });
});
