import type { Amounts, Budget } from '../../core/budget.js';
import type { CommitOutcome } from '../../core/ledger-store.interface.js';
import type { LeaseBackend } from './lease-backend.interface.js';
import { leaseId, NDIM, toAmounts } from './lease.js';

/**
 * A leased budget's usage with no lease to put it in (a commit after its lease settled, what a
 * lease Redis forgot had spent), charged to Redis under one id until Redis takes it (charge-once).
 */
export class LooseUsage {
  /** Usage waiting for the next charge, by dimension. */
  private loose: number[] = new Array<number>(NDIM).fill(0);
  private pendingCharge: { id: string; amounts: number[] } | undefined;
  private charging = false;

  constructor(
    private readonly budget: () => Budget,
    private readonly backend: LeaseBackend,
    /** Receives what Redis answered to a charge. */
    private readonly charged: (outcome: CommitOutcome, now: number) => void,
  ) {}

  /** Usage not yet in a charge under way, by dimension (do not modify). */
  get amounts(): readonly number[] {
    return this.loose;
  }

  /** Whether nothing waits to be charged. */
  get empty(): boolean {
    return this.loose.every((n) => n === 0) && !this.pendingCharge;
  }

  add(used: readonly number[]): void {
    for (let d = 0; d < NDIM; d++) this.loose[d] += used[d];
  }

  /** What waits to be charged, as one usage never written to Redis; undefined if nothing. */
  unwritten(): { reservationId: string; actual: Amounts } | undefined {
    const loose = this.loose.map((n, d) => n + (this.pendingCharge?.amounts[d] ?? 0));
    if (!loose.some((n) => n !== 0)) return undefined;
    return {
      reservationId: this.pendingCharge?.id ?? leaseId('charge'),
      actual: toAmounts(loose),
    };
  }

  /** Charges what waits, under one id until Redis takes it (charge-once). */
  async charge(now: number): Promise<void> {
    if (this.charging) return;
    const charge = (this.pendingCharge ??= {
      id: leaseId('charge'),
      amounts: this.take(),
    });
    this.charging = true;
    try {
      const outcome = await this.backend.commit({
        reservationId: charge.id,
        budgets: [this.budget()],
        actual: toAmounts(charge.amounts),
        now,
        ifUnknown: 'charge-once',
      });
      this.pendingCharge = undefined;
      this.charged(outcome, now);
    } catch {
      // Retried by the next sweep under the same id.
    } finally {
      this.charging = false;
    }
  }

  private take(): number[] {
    const amounts = this.loose;
    this.loose = new Array<number>(NDIM).fill(0);
    return amounts;
  }
}
