import { estimateTokens } from '../../counting/index.js';
import type { ClaudeTokenizerGeneration } from './claude-tokenizer.generation.js';

// Claude has no public tokenizer. Its counts are bounded from Tokencap's o200k-shaped estimator
// (`estimateTokens`), scaled by a factor per tokenizer generation, with every astral character
// (emoji) counted once more: byte-level fallbacks cost Claude about 3 tokens each. The factors
// come from test/unit/anthropic/claude-estimator.corpus.spec.ts, which measures them against the
// testing kit's independent Claude counter and against Anthropic's published figures; see
// docs/anthropic.md for the bias and the error bound.
const UPPER_FACTOR: Readonly<Record<ClaudeTokenizerGeneration, number>> = {
  classic: 1.35,
  dense: 1.6,
};
// The low count of streamed output: never above Claude's own count on the corpus (its lowest ratio
// to the estimator there is 0.78), so an answer within its cap is never cut for our counting.
const LOWER_FACTOR = 0.7;

/**
 * An upper estimate of Claude's token count of `text` under `generation`: on the measured corpus
 * (prose in 12 scripts, code, JSON, Markdown, tool schemas, emoji, random data) never below the
 * reference counts. Never throws.
 */
export function estimateClaudeTokens(text: string, generation: ClaudeTokenizerGeneration): number {
  if (text.length === 0) return 0;
  return Math.ceil(UPPER_FACTOR[generation] * (estimateTokens(text) + astralCount(text)));
}

/**
 * A low count of Claude output text, for the stream cut and the seen-output estimate: a fraction
 * (the output counter rounds totals down, so a one-word answer is not counted as two), and
 * counting deltas one by one never gives less than the whole text.
 */
export function countClaudeOutputLow(text: string): number {
  return LOWER_FACTOR * estimateTokens(text);
}

function astralCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) count++;
  }
  return count;
}
