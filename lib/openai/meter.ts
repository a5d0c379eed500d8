import type { Amounts, Dimension } from '../core/budget.js';

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
 * The one place where tokens become budget amounts: every reservation and every commit of the
 * OpenAI wrapper goes through it. A price table only has to add `usd` here (micro-dollars from
 * `model`, cached and reasoning tokens); reservations pick it up through {@link reservationShape}.
 */
export function meter(_model: string, usage: TokenUsage): Amounts {
  return { tokens: usage.prompt + usage.output, requests: 1 };
}

/**
 * The `base` (prompt and request) and `perUnit` (one output token on each of `choices` choices)
 * of a reservation, derived from {@link meter} so that reservations and commits never disagree.
 */
export function reservationShape(
  model: string,
  prompt: number,
  choices: number,
): { base: Amounts; perUnit: Amounts } {
  const base = meter(model, { prompt, output: 0 });
  const withOne = meter(model, { prompt, output: choices });
  const perUnit: Amounts = {};
  for (const dim of Object.keys(withOne) as Dimension[]) {
    const delta = (withOne[dim] ?? 0) - (base[dim] ?? 0);
    if (delta > 0) perUnit[dim] = delta;
  }
  return { base, perUnit };
}
