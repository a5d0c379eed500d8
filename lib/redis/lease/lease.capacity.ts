import { type Amounts, type Budget, DIMENSIONS, type Dimension } from '../../core/budget.js';
import type { LedgerSnapshot } from '../../core/ledger-store.interface.js';
import type { Lease } from './lease.js';

/** Whether `lease` has room for `amounts` in every dimension `budget` limits. */
export function fits(budget: Budget, lease: Lease, amounts: readonly number[]): boolean {
  for (const dim of Object.keys(budget.limits) as Dimension[]) {
    const d = DIMENSIONS.indexOf(dim);
    if (amounts[d] > lease.free(d)) return false;
  }
  return true;
}

/** The lease as a ledger whose room is the lease's free capacity, for decideReservation. */
export function virtualSnapshot(budget: Budget, lease: Lease): LedgerSnapshot {
  const used: Amounts = {};
  for (const dim of Object.keys(budget.limits) as Dimension[]) {
    const d = DIMENSIONS.indexOf(dim);
    used[dim] = (budget.limits[dim] as number) - Math.max(0, lease.free(d));
  }
  return { used, reserved: {} };
}

/** Whether `lease` is three quarters used in a dimension `budget` limits (time to prefetch). */
export function runningLow(budget: Budget, lease: Lease): boolean {
  for (const dim of Object.keys(budget.limits) as Dimension[]) {
    const d = DIMENSIONS.indexOf(dim);
    if (lease.free(d) < lease.granted[d] / 4) return true;
  }
  return false;
}
