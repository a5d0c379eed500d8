import type { BudgetExceededError } from '../errors.js';
import { type Amounts, type Budget, type Dimension, toStoreUnits } from './budget.js';
import type { BudgetUsage } from './events.js';
import { thresholdAmount } from './ledger-rules.js';
import type { Reservation } from './reservation.js';

// The decisions the budget policies make around one call, for every client wrapper. The ledger
// rules (ledger-rules.ts, mirrored by the Redis scripts) decide what a reservation holds; these
// decide what the call does with it: cap its output, switch its model, answer with a fallback.

/**
 * Whether the call's output is capped: a `hard-stop` budget limits a dimension that output tokens
 * cost (`perUnit`, the cost of one output token). `degrade` and `notify` budgets never cap.
 */
export function capsOutput(budgets: readonly Budget[], perUnit: Amounts): boolean {
  for (const budget of budgets) {
    if (budget.policy !== 'hard-stop') continue;
    for (const d in perUnit) {
      if (isCosted(perUnit, d) && budget.limits[d] !== undefined) return true;
    }
  }
  return false;
}

/** Whether `degradeTarget` needs the budgets' usage: a `degrade` budget could switch `model`. */
export function mayDegrade(budgets: readonly Budget[], model: string): boolean {
  return budgets.some((b) => switchesFrom(b, model));
}

/**
 * The `degrade` budget (first in order) whose committed usage reached `degradeAt` of its limit in
 * any dimension, so the call goes to its `fallbackModel`; decided before anything is reserved, so
 * the call is counted, priced and capped as the fallback model. `usage` is each budget's, in order.
 */
export function degradeTarget(
  budgets: readonly Budget[],
  usage: readonly BudgetUsage[],
  model: string,
): (Budget & { fallbackModel: string }) | undefined {
  for (let i = 0; i < budgets.length; i++) {
    const budget = budgets[i];
    if (!switchesFrom(budget, model)) continue;
    const degradeAt = budget.degradeAt ?? 0.9;
    const reached = (Object.keys(budget.limits) as Dimension[]).some((d) => {
      const used = toStoreUnits(d, usage[i]?.dimensions[d]?.used ?? 0);
      return used >= thresholdAmount(degradeAt, budget.limits[d] as number);
    });
    if (reached) return budget as Budget & { fallbackModel: string };
  }
  return undefined;
}

/** The `degrade` budget with a `fallback` that refused the call, if that is what refused it. */
export function fallbackBudget(
  budgets: readonly Budget[],
  error: BudgetExceededError,
): Budget | undefined {
  const budget = budgets.find((b) => b.scope === error.scope && b.key === error.key);
  return budget?.policy === 'degrade' && budget.fallback ? budget : undefined;
}

/**
 * Whether the reservation took all a `hard-stop` budget had left, so the budget (not the caller)
 * set the output cap, and an answer cut by that cap was cut by the budget.
 */
export function budgetSetTheCap(reservation: Reservation, perUnit: Amounts): boolean {
  const { budgets, snapshots } = reservation;
  for (let i = 0; i < budgets.length; i++) {
    const budget = budgets[i];
    if (budget.policy !== 'hard-stop') continue;
    const { used, reserved } = snapshots[i];
    for (const d in perUnit) {
      if (!isCosted(perUnit, d)) continue;
      const limit = budget.limits[d];
      const per = perUnit[d] as number;
      if (limit !== undefined && limit - (used[d] ?? 0) - (reserved[d] ?? 0) < per) return true;
    }
  }
  return false;
}

/** The `hard-stop` budget (and dimension) with the least room left after the reservation: the one a stopped stream names. */
export function bindingBudget(reservation: Reservation): { budget: Budget; dimension: Dimension } {
  let best: { budget: Budget; dimension: Dimension; room: number } | undefined;
  reservation.budgets.forEach((budget, i) => {
    if (budget.policy !== 'hard-stop') return;
    const { used, reserved } = reservation.snapshots[i];
    // Requests are whole calls: a stream is never stopped for them, only for tokens or dollars.
    for (const dimension of OUTPUT_DIMENSIONS) {
      const limit = budget.limits[dimension];
      if (limit === undefined) continue;
      const room = (limit - (used[dimension] ?? 0) - (reserved[dimension] ?? 0)) / limit;
      if (!best || room < best.room) best = { budget, dimension, room };
    }
  });
  return best ?? { budget: reservation.budgets[0], dimension: 'tokens' };
}

const OUTPUT_DIMENSIONS: readonly Dimension[] = ['tokens', 'usd'];

function switchesFrom(budget: Budget, model: string): boolean {
  return budget.policy === 'degrade' && !!budget.fallbackModel && budget.fallbackModel !== model;
}

/** Whether `d` is an own dimension of `perUnit` that output costs something in (as Object.keys reads it). */
function isCosted(perUnit: Amounts, d: string): d is Dimension {
  return Object.prototype.hasOwnProperty.call(perUnit, d) && (perUnit[d as Dimension] ?? 0) > 0;
}
