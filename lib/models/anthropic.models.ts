import type { ModelFacts, ModelPrice, ModelTable } from './model-facts.js';

// Claude rates: input, 5-minute cache write, 1-hour cache write, cache read, output (USD per 1M
// tokens), in the order of Anthropic's pricing table. Claude has no public tokenizer: no encoding,
// prompts are estimated (or counted by the Anthropic adapter's count-tokens call).
function claude(
  input: number,
  cacheWrite5m: number,
  cacheWrite1h: number,
  cachedInput: number,
  output: number,
  maxOutputTokens: number,
  extra: Partial<ModelFacts> = {},
): ModelFacts {
  const price: ModelPrice = { input, cacheWrite5m, cacheWrite1h, cachedInput, output };
  return { price, maxOutputTokens, reasoning: true, ...extra };
}

// Sonnet 4 and 4.5 with the 1M-token context: prompts over 200K tokens cost more, for the whole call.
const SONNET_4_LONG = {
  above: 200_000,
  input: 6,
  cacheWrite5m: 7.5,
  cacheWrite1h: 12,
  cachedInput: 0.6,
  output: 22.5,
};

const MODELS: Record<string, ModelFacts> = {
  'claude-fable-5-1': claude(10, 12.5, 20, 0.25, 50, 128_000),
  'claude-mythos-5-1': claude(10, 12.5, 20, 0.25, 50, 128_000),
  'claude-fable-5': claude(10, 12.5, 20, 1, 50, 128_000),
  'claude-mythos-5': claude(10, 12.5, 20, 1, 50, 128_000),
  'claude-opus-5-5': claude(4, 5, 8, 0.2, 20, 128_000),
  'claude-opus-5': claude(5, 6.25, 10, 0.5, 25, 128_000),
  'claude-sonnet-5-5': claude(2, 2.5, 4, 0.1, 10, 128_000),
  'claude-sonnet-5': claude(2, 2.5, 4, 0.2, 10, 128_000),
  'claude-haiku-5-5': {
    ...claude(0.1, 0.125, 0.2, 0.01, 0.5, 128_000),
    price: {
      input: 0.1,
      cacheWrite5m: 0.125,
      cacheWrite1h: 0.2,
      cachedInput: 0.01,
      output: 0.5,
      longContext: {
        above: 100_000,
        input: 0.5,
        cacheWrite5m: 0.625,
        cacheWrite1h: 1,
        cachedInput: 0.05,
        output: 2.5,
      },
    },
  },
  'claude-opus-4-8': claude(5, 6.25, 10, 0.5, 25, 128_000),
  'claude-opus-4-7': claude(5, 6.25, 10, 0.5, 25, 128_000),
  'claude-opus-4-6': claude(5, 6.25, 10, 0.5, 25, 128_000),
  'claude-opus-4-5': claude(5, 6.25, 10, 0.5, 25, 64_000),
  'claude-opus-4-1': claude(15, 18.75, 30, 1.5, 75, 32_000),
  'claude-opus-4': claude(15, 18.75, 30, 1.5, 75, 32_000),
  'claude-sonnet-4-6': claude(3, 3.75, 6, 0.3, 15, 64_000),
  'claude-sonnet-4-5': {
    ...claude(3, 3.75, 6, 0.3, 15, 64_000),
    price: {
      input: 3,
      cacheWrite5m: 3.75,
      cacheWrite1h: 6,
      cachedInput: 0.3,
      output: 15,
      longContext: SONNET_4_LONG,
    },
  },
  'claude-sonnet-4': {
    ...claude(3, 3.75, 6, 0.3, 15, 64_000),
    price: {
      input: 3,
      cacheWrite5m: 3.75,
      cacheWrite1h: 6,
      cachedInput: 0.3,
      output: 15,
      longContext: SONNET_4_LONG,
    },
  },
  'claude-3-7-sonnet': claude(3, 3.75, 6, 0.3, 15, 64_000),
  'claude-haiku-4-5': claude(1, 1.25, 2, 0.1, 5, 64_000),
  'claude-3-5-haiku': claude(0.8, 1, 1.6, 0.08, 4, 8_192, { reasoning: false }),
  'claude-3-haiku': claude(0.25, 0.3, 0.5, 0.03, 1.25, 4_096, { reasoning: false }),
};

/**
 * Anthropic Claude models: list prices in USD per 1M tokens with cache reads and both cache-write
 * lifetimes (5 minutes: 1.25 × input, 1 hour: 2 × input, except where Anthropic says otherwise),
 * long-context rates where Anthropic bills them, output limits (`max_tokens`), and which models can
 * think (extended or adaptive thinking bills its tokens as output). Ids resolve with or without
 * their snapshot date (`claude-sonnet-4-20250514`, `claude-opus-4-0`, `claude-3-7-sonnet-latest`).
 */
export const ANTHROPIC_MODELS: ModelTable = Object.freeze({
  provider: 'anthropic',
  takenOn: '2026-12-01',
  source:
    'https://platform.claude.com/docs/en/about-claude/pricing and the model overview pages at https://platform.claude.com/docs/en/about-claude/models',
  models: Object.freeze(MODELS),
});
