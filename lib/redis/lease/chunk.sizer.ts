import { type Budget, DIMENSIONS, type Dimension } from '../../core/budget.js';
import type { LedgerSnapshot } from '../../core/ledger-store.interface.js';
import { NDIM } from './lease.js';

/**
 * Sizes a replica's leases of one budget from its burn rate: what it held over the last lease's
 * life, scaled to `horizon`.
 */
export class ChunkSizer {
  /** Amounts held since `since`, for the burn rate. */
  private consumed: number[] = new Array<number>(NDIM).fill(0);
  private since: number | undefined;
  private last: number[] | undefined;

  constructor(
    private readonly budget: () => Budget,
    private readonly horizonMs: number,
  ) {}

  /** Counts a call's amounts toward the burn rate. */
  record(amounts: readonly number[]): void {
    for (let d = 0; d < NDIM; d++) this.consumed[d] += amounts[d];
  }

  /**
   * The next chunk: what this replica held over the last lease's life scaled to `horizon` (at
   * most twice and at least half the last chunk), at least `want`, and at most an eighth of what
   * Redis last showed free (`snap`), so near the limit the last units are not stranded on one
   * replica.
   */
  next(now: number, want: readonly number[], snap: LedgerSnapshot | undefined): number[] {
    // Before Redis has shown what is free, the first lease is just the call: its reply tells what
    // is free, and the next lease (prefetched at once) is sized to at most an eighth of that.
    if (!snap) return want.map((n) => Math.ceil(n));
    const budget = this.budget();
    const elapsed = this.since === undefined ? 0 : Math.max(1, now - this.since);
    const out = new Array<number>(NDIM).fill(0);
    for (const dim of Object.keys(budget.limits) as Dimension[]) {
      const d = DIMENSIONS.indexOf(dim);
      const limit = budget.limits[dim] as number;
      let size =
        elapsed > 0
          ? (this.consumed[d] / elapsed) * this.horizonMs
          : Math.max(want[d] * 8, limit / 1000);
      if (this.last) size = Math.min(Math.max(size, this.last[d] / 2), this.last[d] * 2);
      // Credit raises the limit for the window (Redis applies it when the lease is reserved).
      const room = limit + (snap.credit?.[dim] ?? 0);
      const free = room - (snap.used[dim] ?? 0) - (snap.reserved[dim] ?? 0);
      size = Math.min(size, Math.max(0, free) / 8);
      out[d] = Math.ceil(Math.max(size, want[d]));
    }
    this.last = out;
    this.since = now;
    this.consumed = new Array<number>(NDIM).fill(0);
    return out;
  }
}
