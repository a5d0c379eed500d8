import type { ClaudeTokenizer } from './claude-token.counter.js';

/** What the fake Anthropic API knows about one model. */
export interface ClaudeModelFacts {
  /** Largest `max_tokens` the model accepts; above it the API answers 400. */
  maxOutputTokens: number;
  /** Input plus output the model can hold; a longer prompt is refused with 400. */
  contextWindow: number;
  /** Shortest prefix a `cache_control` breakpoint caches; shorter ones are silently not cached. */
  minCacheableTokens: number;
  /** Which rules of the fake's token counter apply; see `claude-token.counter.ts`. */
  tokenizer: ClaudeTokenizer;
}

const K = 1_000;
const M = 1_000_000;

function facts(
  maxOutputTokens: number,
  contextWindow: number,
  minCacheableTokens: number,
  tokenizer: ClaudeTokenizer,
): ClaudeModelFacts {
  return { maxOutputTokens, contextWindow, minCacheableTokens, tokenizer };
}

/**
 * Models the fake answers for, with their limits. Sources, read in July 2026: the model overview
 * pages of Anthropic's platform docs (context window, max output of the synchronous Messages API)
 * and the prompt-caching guide (minimum cacheable prompt length: 512 for Opus 5 / Fable 5 /
 * Mythos 5, 1,024 for Opus 4.8, Sonnet 5, Sonnet 4.x, Opus 4 / 4.1 and 3.7 Sonnet, 2,048 for
 * Opus 4.7 and the Claude 3 Haikus, 4,096 for Opus 4.6, Opus 4.5 and Haiku 4.5). Sonnet 4.5 is
 * listed with its default 200K window (1M needs a beta header). Models the docs say nothing about
 * yet (`claude-haiku-5-5`, `claude-mythos-preview`, the 5.1 / 5.2 point releases) take their
 * family's values. Tests add or override entries with the server's `models` option.
 */
export const CLAUDE_MODELS: ReadonlyMap<string, ClaudeModelFacts> = new Map([
  ['claude-fable-5-2', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-fable-5-1', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-fable-5', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-mythos-5-2', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-mythos-5-1', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-mythos-5', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-mythos-preview', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-opus-5-5', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-opus-5', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-sonnet-5-5', facts(128 * K, M, 1024, 'claude-4.7')],
  ['claude-sonnet-5', facts(128 * K, M, 1024, 'claude-4.7')],
  ['claude-haiku-5-5', facts(128 * K, M, 512, 'claude-4.7')],
  ['claude-opus-4-8', facts(128 * K, M, 1024, 'claude-4.7')],
  ['claude-opus-4-7', facts(128 * K, M, 2048, 'claude-4.7')],
  ['claude-opus-4-6', facts(128 * K, M, 4096, 'claude-3')],
  ['claude-sonnet-4-6', facts(64 * K, M, 1024, 'claude-3')],
  ['claude-opus-4-5', facts(64 * K, 200 * K, 4096, 'claude-3')],
  ['claude-opus-4-5-20251101', facts(64 * K, 200 * K, 4096, 'claude-3')],
  ['claude-haiku-4-5', facts(64 * K, 200 * K, 4096, 'claude-3')],
  ['claude-haiku-4-5-20251001', facts(64 * K, 200 * K, 4096, 'claude-3')],
  ['claude-sonnet-4-5', facts(64 * K, 200 * K, 1024, 'claude-3')],
  ['claude-sonnet-4-5-20250929', facts(64 * K, 200 * K, 1024, 'claude-3')],
  ['claude-opus-4-1', facts(32 * K, 200 * K, 1024, 'claude-3')],
  ['claude-opus-4-1-20250805', facts(32 * K, 200 * K, 1024, 'claude-3')],
  ['claude-opus-4-0', facts(32 * K, 200 * K, 1024, 'claude-3')],
  ['claude-opus-4-20250514', facts(32 * K, 200 * K, 1024, 'claude-3')],
  ['claude-sonnet-4-0', facts(64 * K, 200 * K, 1024, 'claude-3')],
  ['claude-sonnet-4-20250514', facts(64 * K, 200 * K, 1024, 'claude-3')],
  ['claude-3-7-sonnet-latest', facts(64 * K, 200 * K, 1024, 'claude-3')],
  ['claude-3-7-sonnet-20250219', facts(64 * K, 200 * K, 1024, 'claude-3')],
  ['claude-3-5-haiku-latest', facts(8192, 200 * K, 2048, 'claude-3')],
  ['claude-3-5-haiku-20241022', facts(8192, 200 * K, 2048, 'claude-3')],
  ['claude-3-haiku-20240307', facts(4096, 200 * K, 2048, 'claude-3')],
]);
