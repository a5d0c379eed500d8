import type { ModelPrice } from './price-table.js';

/**
 * OpenAI list prices, standard tier, in USD per 1M tokens (which is also micro-dollars per token).
 * Reasoning tokens are billed as output. Nothing is fetched at run time: override or extend this
 * table with the `prices` option when OpenAI's prices change.
 */
export const OPENAI_PRICES: {
  readonly takenOn: string;
  readonly source: string;
  readonly models: Readonly<Record<string, ModelPrice>>;
} = Object.freeze({
  takenOn: '2025-08-07',
  source: 'https://platform.openai.com/docs/pricing (standard tier)',
  models: Object.freeze({
    'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
    'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
    'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
    'gpt-5-chat-latest': { input: 1.25, cachedInput: 0.125, output: 10 },
    'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
    'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
    'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
    'gpt-4.5-preview': { input: 75, cachedInput: 37.5, output: 150 },
    'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
    'gpt-4o-2024-05-13': { input: 5, output: 15 },
    'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
    'chatgpt-4o-latest': { input: 5, output: 15 },
    o1: { input: 15, cachedInput: 7.5, output: 60 },
    'o1-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
    'o1-pro': { input: 150, output: 600 },
    o3: { input: 2, cachedInput: 0.5, output: 8 },
    'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
    'o3-pro': { input: 20, output: 80 },
    'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
    'gpt-4-turbo': { input: 10, output: 30 },
    'gpt-4': { input: 30, output: 60 },
    'gpt-4-32k': { input: 60, output: 120 },
    'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
    'text-embedding-3-small': { input: 0.02, output: 0 },
    'text-embedding-3-large': { input: 0.13, output: 0 },
    'text-embedding-ada-002': { input: 0.1, output: 0 },
  }),
});
