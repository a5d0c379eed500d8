import { describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../../lib/errors.js';
import { OPENAI_PRICES } from '../../../lib/pricing/openai-prices.js';
import { PriceTable, PriceUnknownError } from '../../../lib/pricing/price-table.js';

describe('PriceTable', () => {
  const table = new PriceTable();

  it.each([
    ['gpt-4o', 'gpt-4o'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['ft:gpt-4o-mini-2024-07-18:acme::abc123', 'gpt-4o-mini'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['gpt-4.1-2025-04-14', 'gpt-4.1'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['o4-mini-2025-04-16', 'o4-mini'],
    ['gpt-5-nano-2025-08-07', 'gpt-5-nano'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-turbo-2024-04-09', 'gpt-4-turbo'],
  ])('resolves %s to the price of %s', (model, base) => {
    expect(table.priceFor(model)).toEqual(OPENAI_PRICES.models[base]);
  });

  it('finds nothing for an unknown model, and refuses it with a clear error', () => {
    expect(table.priceFor('claude-3-5-sonnet')).toBeUndefined();
    expect(() => table.require('claude-3-5-sonnet')).toThrow(PriceUnknownError);
    expect(() => table.require('claude-3-5-sonnet')).toThrow(
      'No price for model "claude-3-5-sonnet", so a call under a usd budget cannot be bounded and was refused.',
    );
  });

  it('prices a call in whole micro-dollars, cached input at its own rate, rounded up once', () => {
    // gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M tokens.
    // 1,000 input of which 512 cached, 200 output: 488 × 2.5 + 512 × 1.25 + 200 × 10 = 1220 + 640 + 2000.
    expect(table.costMicros('gpt-4o', { input: 1000, cached: 512, output: 200 })).toBe(3860);
    // gpt-4o-mini: 0.15 / 0.075 / 0.6. 7 × 0.15 + 3 × 0.6 = 1.05 + 1.8 = 2.85 → 3 micro-dollars.
    expect(table.costMicros('gpt-4o-mini-2024-07-18', { input: 7, output: 3 })).toBe(3);
    // gpt-4 has no cached rate: cached tokens cost full input price. 100 × 30 + 10 × 60.
    expect(table.costMicros('gpt-4', { input: 100, cached: 50, output: 10 })).toBe(3600);
  });

  it('takes user prices over the shipped ones and a default for unknown models', () => {
    const custom = new PriceTable({
      prices: { 'gpt-4o': { input: 1, output: 2 }, 'llama-3': { input: 0.2, output: 0.2 } },
      defaultPrice: { input: 5, output: 5 },
    });
    expect(custom.priceFor('gpt-4o-2024-08-06')).toEqual({ input: 1, output: 2 });
    expect(custom.priceFor('llama-3-70b')).toEqual({ input: 0.2, output: 0.2 });
    expect(custom.priceFor('mystery')).toEqual({ input: 5, output: 5 });
  });

  it('rejects a malformed price naming it', () => {
    expect(() => new PriceTable({ prices: { x: { input: -1, output: 1 } } })).toThrow(
      TokencapConfigError,
    );
    expect(() => new PriceTable({ prices: { x: { input: -1, output: 1 } } })).toThrow(
      'Invalid prices["x"]: {"input":-1,"output":1}. Expected { input, cachedInput?, output } in USD per 1M tokens, each a finite number >= 0.',
    );
    expect(() => new PriceTable({ defaultPrice: { input: 1 } as never })).toThrow(
      'Invalid defaultPrice: {"input":1}.',
    );
  });

  it('records when and where the shipped table was taken', () => {
    expect(OPENAI_PRICES.takenOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(OPENAI_PRICES.source).toContain('openai.com');
  });
});
