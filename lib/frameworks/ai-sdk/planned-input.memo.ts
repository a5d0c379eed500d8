import type { BudgetFrame } from '../../core/budget-context.js';

// The input tokens the middleware last reserved in each budget frame, for `budgetNearlySpent`:
// a tool loop's next step reserves at least that much again (its prompt only grows), and where
// the prompt is estimated (non-OpenAI models) the reservation can be well above what the last
// step billed. Keyed by frame, so it is forgotten with the frame and never crosses apps.
const plannedInput = new WeakMap<BudgetFrame, { last: number; growth: number }>();

/** Notes the input tokens a call reserved in `frame`. */
export function notePlannedInput(frame: BudgetFrame, tokens: number): void {
  const before = plannedInput.get(frame);
  plannedInput.set(frame, { last: tokens, growth: before ? Math.max(0, tokens - before.last) : 0 });
}

/**
 * The input tokens the next call in `frame` will likely reserve: the last reservation's, plus
 * how much it grew over the one before (a tool loop's prompt grows by about as much each step).
 * `undefined` when the middleware planned no call there.
 */
export function nextPlannedInput(frame: BudgetFrame): number | undefined {
  const planned = plannedInput.get(frame);
  return planned && planned.last + planned.growth;
}
