import type { Amounts } from '../core/budget.js';
import type { PriceTable } from '../pricing/price-table.js';

/** Token counts of one call, as the provider reported them or as Tokencap counted them. */
export interface TokenUsage {
  /** Input tokens, cached ones included. */
  prompt: number;
  /** Output tokens, reasoning ones included. */
  output: number;
  /** Input tokens served from the prompt cache. */
  cached?: number;
  /** Hidden reasoning tokens, part of `output`. */
  reasoning?: number;
}

/**
 * The one place where tokens become budget amounts: every commit of the OpenAI wrapper goes
 * through it. With `prices` (only when a budget of the call limits dollars) it adds `usd` in
 * micro-dollars: uncached input, cached input at its own rate, output (reasoning included).
 * @throws PriceUnknownError when `prices` has no price for `model`.
 */
export function meter(model: string, usage: TokenUsage, prices?: PriceTable): Amounts {
  const amounts: Amounts = { tokens: usage.prompt + usage.output, requests: 1 };
  if (prices) {
    amounts.usd = prices.costMicros(model, {
      input: usage.prompt,
      cached: usage.cached,
      output: usage.output,
    });
  }
  return amounts;
}

/**
 * The `base` (prompt and request) and `perUnit` (one output token on each of `choices` choices)
 * of a reservation. Dollars reserve the prompt at the full input rate (the cache discount is only
 * known afterwards) and output at the output rate, so a reservation never holds less than the
 * commit that follows it.
 * @throws PriceUnknownError when `prices` is given and has no price for `model`.
 */
export function reservationShape(
  model: string,
  prompt: number,
  choices: number,
  prices?: PriceTable,
): { base: Amounts; perUnit: Amounts } {
  const base: Amounts = { tokens: prompt, requests: 1 };
  const perUnit: Amounts = {};
  if (choices > 0) perUnit.tokens = choices;
  if (prices) {
    const price = prices.require(model);
    base.usd = Math.ceil(prompt * price.input - 1e-9);
    if (choices > 0 && price.output > 0) perUnit.usd = choices * price.output;
  }
  return { base, perUnit };
}
