import type { Usage } from '../core/events.js';
import { TokencapConfigError } from '../errors.js';
import { ANTHROPIC_MODELS } from './anthropic.models.js';
import type { EncodingName, ModelFacts, ModelPrice, TokenRates } from './model-facts.js';
import {
  entryName,
  validateFacts,
  validateOutputLimit,
  validatePrice,
} from './model-facts.validator.js';
import { findFact, inheritsPrice, nameCandidates } from './model-name.resolver.js';
import { OPENAI_MODELS } from './openai.models.js';
import { PriceUnknownError } from './price-unknown.error.js';
import { assertKnownOptions } from '../core/known-options.guard.js';

/** Options of a {@link ModelCatalog}: facts that replace or extend the shipped tables. */
export interface ModelCatalogOptions {
  /**
   * Facts by model name or name prefix (a family), merged field by field over what is already
   * known under that name: `{ 'my-model': { price, maxOutputTokens: 8_192, reasoning: true } }`.
   * Encodings come from the shipped tables only (counting reads them there).
   * @default {}
   */
  models?: Readonly<Record<string, Omit<ModelFacts, 'encoding'>>>;
  /** Prices by model name or prefix, in USD per 1M tokens (the Nest module's `prices`). @default {} */
  prices?: Readonly<Record<string, ModelPrice>>;
  /** Output limits by model name or prefix (`wrapOpenAI`'s `modelOutputLimits`). @default {} */
  outputLimits?: Readonly<Record<string, number>>;
  /**
   * The price of a model found nowhere. Without it, a call to such a model under a `usd` budget is
   * refused with `PriceUnknownError` (fail closed).
   * @default undefined
   */
  defaultPrice?: ModelPrice;
}

const SHIPPED = [OPENAI_MODELS, ANTHROPIC_MODELS];
const MEMO_LIMIT = 1_000;

/**
 * Every fact Tokencap uses about models, in one place: tiktoken encodings, prices (cache reads and
 * writes, long-context rates), output limits, and which models bill hidden reasoning. Starts from
 * the shipped tables ({@link OPENAI_MODELS}, {@link ANTHROPIC_MODELS}), or from `base`, with the
 * options over them. Every fact of a name resolves by one rule: the exact name, without a provider
 * prefix (`openai/gpt-4o`), a fine-tune's base, without a snapshot date (`gpt-4o-2024-08-06`,
 * `claude-sonnet-4-20250514`), then the longest known prefix ending at a `-`.
 * @throws TokencapConfigError when an option is malformed, naming it.
 * @example
 * const catalog = new ModelCatalog({ prices: { 'my-finetune': { input: 3, output: 12 } } });
 */
export class ModelCatalog {
  private readonly entries: Map<string, ModelFacts>;
  private readonly defaultPrice: ModelPrice | undefined;
  private readonly memo = new Map<string, ModelFacts>();
  private names: Map<string, string> | undefined;

  constructor(options: ModelCatalogOptions = {}, base?: ModelCatalog) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new TokencapConfigError(`Invalid ModelCatalog options: expected an object.`);
    }
    assertKnownOptions(
      options,
      ['models', 'prices', 'outputLimits', 'defaultPrice'],
      'ModelCatalog',
    );
    this.entries = new Map(base ? base.entries : shippedEntries());
    for (const [model, facts] of ownEntries(options.models, 'models')) {
      this.merge(model, validateFacts(facts, entryName('models', model)));
    }
    for (const [model, price] of ownEntries(options.prices, 'prices')) {
      this.merge(model, { price: validatePrice(price, entryName('prices', model)) });
    }
    for (const [model, limit] of ownEntries(options.outputLimits, 'outputLimits')) {
      const where = entryName('outputLimits', model);
      this.merge(model, { maxOutputTokens: validateOutputLimit(limit, where) });
    }
    this.defaultPrice =
      options.defaultPrice === undefined
        ? base?.defaultPrice
        : validatePrice(options.defaultPrice, 'defaultPrice');
  }

  /** A catalog with `options` over this one's facts (this one is left as it is). */
  extend(options: ModelCatalogOptions): ModelCatalog {
    return new ModelCatalog(options, this);
  }

  /** Everything known about `model`, each fact resolved on its own by the catalog's name rule. */
  facts(model: string): ModelFacts {
    const name = typeof model === 'string' ? model : '';
    let facts = this.memo.get(name);
    if (facts === undefined) {
      const candidates = nameCandidates(name);
      const find = <K extends keyof ModelFacts>(key: K) =>
        findFact(candidates, this.entries, (entry) => entry[key]);
      facts = Object.freeze({
        encoding: find('encoding'),
        price: findFact(candidates, this.entries, (entry) => entry.price, inheritsPrice),
        maxOutputTokens: find('maxOutputTokens'),
        reasoning: find('reasoning'),
      });
      // Model names come from requests: cap the memo so hostile names cannot grow it unbounded.
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(name, facts);
    }
    return facts;
  }

  /**
   * The catalog entry `model` resolves to by the catalog's name rule (`gpt-4o-2024-08-06` →
   * `gpt-4o`), or `undefined` for a model it knows nothing of: a name from a bounded set, for
   * labels of metrics.
   */
  knownName(model: string): string | undefined {
    if (typeof model !== 'string') return undefined;
    this.names ??= new Map([...this.entries.keys()].map((name) => [name, name]));
    return findFact(nameCandidates(model), this.names, (name) => name);
  }

  /** The tiktoken encoding of `model`, if it has one. */
  encoding(model: string): EncodingName | undefined {
    return this.facts(model).encoding;
  }

  /** The most output tokens `model` accepts in one call, if known. */
  outputLimit(model: string): number | undefined {
    return this.facts(model).maxOutputTokens;
  }

  /** Whether `model` bills hidden reasoning tokens (unknown models: no). */
  isReasoning(model: string): boolean {
    return this.facts(model).reasoning === true;
  }

  /** The price of `model`, else `defaultPrice`, else `undefined`. */
  price(model: string): ModelPrice | undefined {
    return this.facts(model).price ?? this.defaultPrice;
  }

  /**
   * The price of `model`.
   * @throws PriceUnknownError when it has none.
   */
  requirePrice(model: string): ModelPrice {
    const price = this.price(model);
    if (!price) throw new PriceUnknownError(model);
    return price;
  }

  /**
   * The rates every token of a call to `model` is billed at, given its input tokens (cache reads
   * and writes included): the long-context rates past their threshold, else the standard ones.
   * @throws PriceUnknownError when `model` has no price.
   */
  rates(model: string, inputTokens: number): TokenRates {
    const price = this.requirePrice(model);
    return price.longContext && inputTokens > price.longContext.above ? price.longContext : price;
  }

  /**
   * The cost of a call in whole micro-dollars, rounded up once: uncached input, cache reads, 5-minute
   * and 1-hour cache writes and output (reasoning included), each at its own rate.
   * @throws PriceUnknownError when `model` has no price.
   */
  costMicros(model: string, usage: Usage): number {
    const rates = this.rates(model, usage.inputTokens);
    const input = usage.inputTokens;
    const cached = Math.min(usage.cachedInputTokens ?? 0, input);
    const write5m = Math.min(usage.cacheWrite5mTokens ?? 0, input - cached);
    const write1h = Math.min(usage.cacheWrite1hTokens ?? 0, input - cached - write5m);
    const micros =
      (input - cached - write5m - write1h) * rates.input +
      cached * (rates.cachedInput ?? rates.input) +
      write5m * (rates.cacheWrite5m ?? rates.input) +
      write1h * (rates.cacheWrite1h ?? rates.input) +
      usage.outputTokens * rates.output;
    return Math.ceil(micros - 1e-9);
  }

  private merge(model: string, facts: ModelFacts): void {
    const known = this.entries.get(model);
    const merged: ModelFacts = { ...known };
    for (const [key, value] of Object.entries(facts) as [keyof ModelFacts, never][]) {
      if (value !== undefined) merged[key] = value;
    }
    this.entries.set(model, Object.freeze(merged));
  }
}

/** The catalog of the shipped tables, with no options: what a ledger without its own uses. */
export const SHIPPED_MODEL_CATALOG = new ModelCatalog();

function shippedEntries(): Map<string, ModelFacts> {
  const entries = new Map<string, ModelFacts>();
  for (const table of SHIPPED) {
    for (const [model, facts] of Object.entries(table.models)) entries.set(model, facts);
  }
  return entries;
}

function ownEntries<T>(
  record: Readonly<Record<string, T>> | undefined,
  option: string,
): [string, T][] {
  if (record === undefined) return [];
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new TokencapConfigError(
      `Invalid ModelCatalog option "${option}": expected an object keyed by model name.`,
    );
  }
  return Object.entries(record);
}
