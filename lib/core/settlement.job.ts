import { type Amounts, type Budget, DIMENSIONS, type Dimension, toUserUnits } from './budget.js';
import type { UnwrittenSettlement, UsageDetails } from './events.js';
import type { CommitInput } from './ledger-store.interface.js';

/**
 * One commit or release on its way to the shared store: it is its own store input (so the common
 * case, written at once, allocates nothing more) plus what a retry needs.
 */
export interface Settlement extends CommitInput {
  kind: 'commit' | 'release';
  details: UsageDetails | undefined;
  /** When the reservation lapses in the store; undefined for usage without a reservation. */
  expiresAt: number | undefined;
  /** Usage counted elsewhere already (fail-open replays): only its crossings are published. */
  replay: boolean;
  /** An attempt failed in a way that may have applied it (its reply was lost). */
  ambiguous: boolean;
  /** Counted in the local fallback store (fail-open) while waiting for the shared one. */
  countedLocally: boolean;
}

/** The usage of a release: none. */
export const NO_USAGE: Amounts = Object.freeze({});

export function newSettlement(
  kind: Settlement['kind'],
  reservationId: string,
  budgets: readonly Budget[],
  actual: Amounts,
  details?: UsageDetails,
  expiresAt?: number,
): Settlement {
  return {
    kind,
    reservationId,
    budgets,
    actual,
    now: 0,
    ifUnknown: 'charge',
    details,
    expiresAt,
    replay: false,
    ambiguous: false,
    countedLocally: false,
  };
}

/** A settlement given up, as the `store-error` event reports it (user units). */
export function describeSettlement(job: Settlement): UnwrittenSettlement {
  const out: UnwrittenSettlement = {
    kind: job.kind,
    reservationId: job.reservationId,
    budgets: job.budgets.map((b) => ({ scope: b.scope, key: b.key })),
  };
  if (job.kind === 'commit') {
    const amounts: Partial<Record<Dimension, number>> = {};
    for (const dim of DIMENSIONS) {
      const value = job.actual[dim];
      if (value !== undefined) amounts[dim] = toUserUnits(dim, value);
    }
    out.amounts = amounts;
  }
  return out;
}
