import type { Amounts } from '../core/budget.js';
import type { Usage } from '../core/events.js';
import type { ModelCatalog } from '../models/model.catalog.js';
import type { InputCount } from './provider-endpoint.interface.js';

/**
 * The one place where tokens become budget amounts: every commit of a metered call goes through
 * it. With a `catalog` (only when a budget of the call limits dollars) it adds `usd` in
 * micro-dollars, each kind of token at its own rate.
 * @throws PriceUnknownError when `catalog` has no price for `model`.
 */
export function amountsOf(model: string, usage: Usage, catalog?: ModelCatalog): Amounts {
  const amounts: Amounts = { tokens: usage.inputTokens + usage.outputTokens, requests: 1 };
  if (catalog) amounts.usd = catalog.costMicros(model, usage);
  return amounts;
}

/**
 * The `base` (input and request) and `perUnit` (one output token on each of `choices` choices)
 * of a reservation. Dollars reserve the input at the full input rate (cache-write rates for what
 * the request may write to a cache; a cache-read discount is only known afterwards) and output at
 * the output rate, so a reservation never holds less than the commit that follows it.
 * @throws PriceUnknownError when `catalog` is given and has no price for `model`.
 */
export function reservationShape(
  model: string,
  input: InputCount,
  choices: number,
  catalog?: ModelCatalog,
): { base: Amounts; perUnit: Amounts } {
  const base: Amounts = { tokens: input.inputTokens, requests: 1 };
  const perUnit: Amounts = {};
  if (choices > 0) perUnit.tokens = choices;
  if (catalog) {
    base.usd = catalog.costMicros(model, { ...input, outputTokens: 0 });
    const output = catalog.rates(model, input.inputTokens).output;
    if (choices > 0 && output > 0) perUnit.usd = choices * output;
  }
  return { base, perUnit };
}
