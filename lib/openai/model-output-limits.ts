import { findModelEntry } from '../pricing/model-name.resolver.js';

/**
 * The most output tokens each OpenAI model accepts as `max_completion_tokens` /
 * `max_output_tokens` (reasoning included), from OpenAI's model pages (taken with the price table).
 * An uncapped call is never sent with a cap above its model's, which the API would reject.
 */
export const OPENAI_OUTPUT_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  'gpt-5': 128_000,
  'gpt-5-mini': 128_000,
  'gpt-5-nano': 128_000,
  'gpt-5-chat-latest': 16_384,
  'gpt-4.1': 32_768,
  'gpt-4.1-mini': 32_768,
  'gpt-4.1-nano': 32_768,
  'gpt-4.5-preview': 16_384,
  'gpt-4o': 16_384,
  'gpt-4o-2024-05-13': 4_096,
  'gpt-4o-mini': 16_384,
  'chatgpt-4o-latest': 16_384,
  o1: 100_000,
  'o1-mini': 65_536,
  'o1-pro': 100_000,
  o3: 100_000,
  'o3-mini': 100_000,
  'o3-pro': 100_000,
  'o4-mini': 100_000,
  'gpt-4-turbo': 4_096,
  'gpt-4': 8_192,
  'gpt-4-32k': 32_768,
  'gpt-3.5-turbo': 4_096,
});

/** Output-limit lookup by model name, with user entries over the shipped table. */
export class ModelOutputLimits {
  private readonly table: ReadonlyMap<string, number>;

  constructor(extra: Readonly<Record<string, number>> = {}) {
    this.table = new Map([...Object.entries(OPENAI_OUTPUT_LIMITS), ...Object.entries(extra)]);
  }

  /** The model's output limit, or `undefined` for a model in neither table. */
  limitFor(model: string): number | undefined {
    return findModelEntry(model, this.table);
  }
}
