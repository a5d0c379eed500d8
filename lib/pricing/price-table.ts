import { TokencapConfigError, TokencapError } from '../errors.js';
import { findModelEntry } from './model-name.resolver.js';
import { OPENAI_PRICES } from './openai-prices.js';

/**
 * A model's price in USD per 1M tokens (the same number is micro-dollars per token).
 * `cachedInput` defaults to `input`; reasoning tokens are billed as `output`.
 */
export interface ModelPrice {
  input: number;
  cachedInput?: number;
  output: number;
}

/** Token counts of one call, as the provider reports them. */
export interface PricedUsage {
  /** All input tokens, cached ones included. */
  input: number;
  /** Of `input`, the tokens served from the prompt cache. */
  cached?: number;
  /** All output tokens, reasoning included. */
  output: number;
}

/** Options of {@link PriceTable}. */
export interface PriceTableOptions {
  /** Prices that replace or extend the shipped OpenAI table, by model name or name prefix. */
  prices?: Record<string, ModelPrice>;
  /** The price of a model found nowhere; without it such a model is refused under a `usd` budget. */
  defaultPrice?: ModelPrice;
}

/** A `usd` budget applies to a call whose model has no price. */
export class PriceUnknownError extends TokencapError {
  constructor(readonly model: string) {
    super(
      `No price for model "${model}", so a call under a usd budget cannot be bounded and was refused. ` +
        `Add it with the prices option (USD per 1M tokens: { input, cachedInput?, output }) or set defaultPrice.`,
    );
  }
}

/**
 * Prices by model name. A name resolves exactly, then without a date suffix
 * (`gpt-4o-2024-08-06` → `gpt-4o`), then a fine-tune to its base (`ft:gpt-4o-mini-2024-07-18:org::id`
 * → `gpt-4o-mini`), then by the longest known prefix ending at a `-` (`gpt-4.1-mini-x` → `gpt-4.1-mini`).
 */
export class PriceTable {
  private readonly models: Map<string, ModelPrice>;
  private readonly defaultPrice: ModelPrice | undefined;
  private readonly resolved = new Map<string, ModelPrice | undefined>();

  constructor(options: PriceTableOptions = {}) {
    this.models = new Map(Object.entries(OPENAI_PRICES.models));
    for (const [model, price] of Object.entries(options.prices ?? {})) {
      this.models.set(model, validatePrice(price, `prices["${model}"]`));
    }
    this.defaultPrice = options.defaultPrice && validatePrice(options.defaultPrice, 'defaultPrice');
  }

  /** The price of `model`, or `undefined` when neither the table nor `defaultPrice` has one. */
  priceFor(model: string): ModelPrice | undefined {
    if (this.resolved.has(model)) return this.resolved.get(model);
    const price = findModelEntry(model, this.models) ?? this.defaultPrice;
    // Model names come from requests; cap the memo so hostile names cannot grow it without bound.
    if (this.resolved.size >= 1_000) this.resolved.clear();
    this.resolved.set(model, price);
    return price;
  }

  /**
   * The price of `model`.
   * @throws PriceUnknownError when it has none.
   */
  require(model: string): ModelPrice {
    const price = this.priceFor(model);
    if (!price) throw new PriceUnknownError(model);
    return price;
  }

  /** Cost of a call in whole micro-dollars, rounded up once per call. */
  costMicros(model: string, usage: PricedUsage): number {
    const price = this.require(model);
    const cached = Math.min(usage.cached ?? 0, usage.input);
    const micros =
      (usage.input - cached) * price.input +
      cached * (price.cachedInput ?? price.input) +
      usage.output * price.output;
    return Math.ceil(micros - 1e-9);
  }
}

function validatePrice(price: unknown, where: string): ModelPrice {
  const p = price as Partial<ModelPrice> | null;
  const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (
    p === null ||
    typeof p !== 'object' ||
    !ok(p.input) ||
    !ok(p.output) ||
    (p.cachedInput !== undefined && !ok(p.cachedInput))
  ) {
    throw new TokencapConfigError(
      `Invalid ${where}: ${JSON.stringify(price)}. Expected { input, cachedInput?, output } in USD per 1M tokens, each a finite number >= 0.`,
    );
  }
  return Object.freeze({
    input: p.input!,
    output: p.output!,
    ...(p.cachedInput === undefined ? {} : { cachedInput: p.cachedInput }),
  });
}
