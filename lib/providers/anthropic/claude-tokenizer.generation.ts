import { nameCandidates } from '../../models/model-name.resolver.js';

/**
 * Claude's two tokenizer generations: `classic`, from Claude 3 to Claude Opus 4.6, Sonnet 4.6 and
 * Haiku 4.5; `dense`, introduced with Claude Opus 4.7 (Anthropic: 1.0–1.35× as many tokens for
 * the same text) and used by later models.
 */
export type ClaudeTokenizerGeneration = 'classic' | 'dense';

// Exact names only (with the catalog's candidates: dates and provider prefixes stripped), never a
// prefix: `claude-opus-4` must not claim `claude-opus-4-7`. A model missing here counts as dense,
// the generation that counts more, so a new model is never under-counted.
const CLASSIC = new Set([
  'claude-3-haiku',
  'claude-3-opus',
  'claude-3-opus-latest',
  'claude-3-sonnet',
  'claude-3-5-haiku',
  'claude-3-5-haiku-latest',
  'claude-3-5-sonnet',
  'claude-3-5-sonnet-latest',
  'claude-3-7-sonnet',
  'claude-3-7-sonnet-latest',
  'claude-opus-4',
  'claude-opus-4-0',
  'claude-opus-4-1',
  'claude-opus-4-5',
  'claude-opus-4-6',
  'claude-sonnet-4',
  'claude-sonnet-4-0',
  'claude-sonnet-4-5',
  'claude-sonnet-4-6',
  'claude-haiku-4-5',
]);

/** The tokenizer generation of `model`: `classic` for the models listed above, else `dense`. */
export function tokenizerGeneration(model: string): ClaudeTokenizerGeneration {
  return nameCandidates(model).some((name) => CLASSIC.has(name)) ? 'classic' : 'dense';
}
