import type { Budget } from '../core/budget.js';
import { ledgerIdOf } from '../core/ledger-id.js';
import type { CommitOutcome, LedgerSnapshot } from '../core/ledger-store.interface.js';

/** A snapshot of a ledger nothing was ever charged to. */
export const EMPTY: LedgerSnapshot = Object.freeze({
  used: Object.freeze({}),
  reserved: Object.freeze({}),
});

/**
 * `outcome` (of `budgets`, then the `kept` siblings) with every sibling listed: one left out reads
 * as its ledger's budget does (or as zero) and fires nothing.
 */
export function spreadSiblings(
  outcome: CommitOutcome,
  budgets: readonly Budget[],
  siblings: readonly Budget[],
  kept: readonly Budget[],
): CommitOutcome {
  const n = budgets.length;
  const at = (j: number) => {
    const k = kept.indexOf(siblings[j]);
    return k < 0 ? ownerOf(budgets, siblings[j]) : n + k;
  };
  return {
    ...outcome,
    snapshots: [
      ...outcome.snapshots.slice(0, n),
      ...siblings.map((_, j) => outcome.snapshots[at(j)] ?? EMPTY),
    ],
    crossings: outcome.crossings.map((c) =>
      c.index < n ? c : { ...c, index: n + siblings.indexOf(kept[c.index - n]) },
    ),
    activity: outcome.activity && [
      ...outcome.activity.slice(0, n),
      ...siblings.map((_, j) => outcome.activity?.[at(j)] ?? { commits: 0, since: 0 }),
    ],
  };
}

/** The index in `budgets` of the first budget whose ledger `sibling` shares, or -1. */
export function ownerOf(budgets: readonly Budget[], sibling: Budget): number {
  const id = ledgerIdOf(sibling);
  for (let i = 0; i < budgets.length; i++) if (ledgerIdOf(budgets[i]) === id) return i;
  return -1;
}
