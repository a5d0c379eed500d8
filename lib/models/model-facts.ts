/** The tiktoken encodings Tokencap counts exactly. */
export type EncodingName = 'o200k_base' | 'cl100k_base';

/**
 * Token rates in USD per 1M tokens (the same number is micro-dollars per token). A rate left out
 * is billed at `input`; hidden reasoning tokens are billed as `output`.
 */
export interface TokenRates {
  /** Uncached input. */
  input: number;
  /** Input read from the provider's prompt cache. @default input */
  cachedInput?: number;
  /** Input written to a prompt cache that lives 5 minutes (Anthropic: 1.25 × input). @default input */
  cacheWrite5m?: number;
  /** Input written to a prompt cache that lives 1 hour (Anthropic: 2 × input). @default input */
  cacheWrite1h?: number;
  /** Output, reasoning included. */
  output: number;
}

/** A model's price: its rates, and other rates for the whole call past a long-context threshold. */
export interface ModelPrice extends TokenRates {
  /**
   * Rates for every token of a call whose input (cache reads and writes included) is more than
   * `above` tokens, as providers bill long prompts (`gpt-5.4` above 272K, `claude-haiku-5-5`
   * above 100K).
   */
  longContext?: TokenRates & { above: number };
}

/** What Tokencap knows about one model (or a family, when the name is a prefix). */
export interface ModelFacts {
  /** Tiktoken encoding, for exact counts; without one, prompts are estimated. */
  encoding?: EncodingName;
  price?: ModelPrice;
  /** The most output tokens one call may ask for (reasoning included). */
  maxOutputTokens?: number;
  /**
   * Whether the model bills hidden reasoning tokens as output. When such a call's usage report
   * never comes, it is charged its whole output reservation, not only the text that was seen.
   */
  reasoning?: boolean;
}

/** A shipped table of model facts, with where and when it was taken. */
export interface ModelTable {
  readonly provider: string;
  /** The day the facts were read (YYYY-MM-DD). */
  readonly takenOn: string;
  /** Where they were read. */
  readonly source: string;
  readonly models: Readonly<Record<string, ModelFacts>>;
}
