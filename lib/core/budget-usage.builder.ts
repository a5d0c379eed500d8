import { type Amounts, type Budget, DIMENSIONS, type Dimension, toUserUnits } from './budget.js';
import type { BudgetUsage, DimensionUsage } from './events.js';
import { project } from './forecast.js';
import { effectiveLimit } from './ledger-rules.js';
import type { LedgerActivity, LedgerSnapshot, LedgerState } from './ledger-store.interface.js';

/**
 * Builds the user-facing usage of one budget from a store snapshot at `now`, with its burn rate
 * when the store reported the ledger's `activity`.
 */
export function usageOf(
  budget: Budget,
  snapshot: LedgerSnapshot,
  now: number,
  activity?: LedgerActivity,
): BudgetUsage {
  const dimensions: Partial<Record<Dimension, DimensionUsage>> = {};
  let primary: Dimension | undefined;
  let windowEnd: number | null = null;
  for (const dim of DIMENSIONS) {
    if (budget.limits[dim] === undefined) continue;
    primary ??= dim;
    const limit = effectiveLimit(budget, dim, snapshot.credit);
    const used = snapshot.used[dim] ?? 0;
    const reserved = snapshot.reserved[dim] ?? 0;
    const projection = project(budget, dim, snapshot, activity, now);
    windowEnd = projection.windowEnd ?? null;
    dimensions[dim] = {
      limit: toUserUnits(dim, limit),
      used: toUserUnits(dim, used),
      reserved: toUserUnits(dim, reserved),
      remaining: toUserUnits(dim, Math.max(0, limit - used - reserved)),
      credit: toUserUnits(dim, snapshot.credit?.[dim] ?? 0),
      burnRate: projection.rate === undefined ? null : toUserUnits(dim, projection.rate * 1000),
      projectedExhaustion: projection.exhaustion ?? null,
    };
  }
  const dimension = primary as Dimension;
  return {
    scope: budget.scope,
    key: budget.key,
    dimension,
    ...(dimensions[dimension] as DimensionUsage),
    dimensions,
    windowEnd,
  };
}

/** The activity a store's read carries (`inspect` reports it, `snapshot` does not). */
export function activityOf(state: LedgerSnapshot | LedgerState): LedgerActivity | undefined {
  return 'commits' in state ? state : undefined;
}

/** Store amounts in user units (dollars for `usd`), leaving out zeros. */
export function userAmounts(amounts: Amounts): Partial<Record<Dimension, number>> {
  const out: Partial<Record<Dimension, number>> = {};
  for (const dim of DIMENSIONS) {
    if (amounts[dim]) out[dim] = toUserUnits(dim, amounts[dim]);
  }
  return out;
}
