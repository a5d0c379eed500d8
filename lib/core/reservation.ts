import type { Amounts, Budget } from './budget.js';
import type { UsageDetails } from './events.js';
import type { LedgerSnapshot, LedgerStore, MaybePromise } from './ledger-store.interface.js';
import type { Ledger } from './ledger.js';
import { assertAmounts } from './ledger-input.guard.js';
import { isPromise } from './maybe-promise.js';

/**
 * Capacity held for one call in flight. Settle it exactly once: `commit` the actual usage (the
 * difference is released) or `release` it when the call failed. Later calls to either are no-ops.
 */
export class Reservation {
  private settled = false;
  /** A renewal under way (one at a time per reservation). */
  private renewing = false;

  /** @internal Created by {@link Ledger.reserve}. */
  constructor(
    private readonly ledger: Ledger,
    private readonly store: LedgerStore,
    /** Unique id of this reservation in the store. */
    readonly id: string,
    /** The budgets charged, outermost first. */
    readonly budgets: readonly Budget[],
    /** Flexible units (output tokens) granted. */
    readonly units: number,
    /** What is held on every budget, in store units. */
    readonly amounts: Amounts,
    /** Each budget's state right after the reservation, in order. */
    readonly snapshots: readonly LedgerSnapshot[],
    /**
     * @internal When the store lets the reservation lapse, epoch ms (ledger clock); moved later
     * while the call runs (see {@link renew}).
     */
    public expiresAt?: number,
  ) {}

  /**
   * @internal Moves the reservation's expiry in the store to `expiresAt`, so a call still running
   * does not lose its hold (the Ledger calls it while the reservation is unsettled). Resolves
   * `false` once the store no longer holds it (it lapsed, or was settled meanwhile): it is not
   * renewed again. A store error leaves it to the next renewal.
   */
  renew(expiresAt: number, now: number): MaybePromise<boolean> {
    const store = this.store;
    if (this.settled || store.extend === undefined) return false;
    if (this.renewing) return true;
    const renewed = (held: boolean): boolean => {
      this.renewing = false;
      if (held && expiresAt > (this.expiresAt ?? -Infinity)) this.expiresAt = expiresAt;
      return held && !this.settled;
    };
    const input = { reservationId: this.id, budgets: this.budgets, expiresAt, now };
    this.renewing = true;
    let result: MaybePromise<boolean>;
    try {
      result = store.extend(input);
    } catch {
      this.renewing = false;
      return true;
    }
    if (!isPromise(result)) return renewed(result);
    return result.then(renewed, () => {
      this.renewing = false;
      return true;
    });
  }

  /** Whether commit or release has already run. */
  get isSettled(): boolean {
    return this.settled;
  }

  /**
   * Records actual usage (may exceed what was reserved: the provider is the source of truth) and
   * drops the reservation. Resolves `false` if the reservation was already settled.
   * @param details shown on the `usage` events of this commit (model, cached and reasoning tokens).
   */
  async commit(actual: Amounts, details?: UsageDetails): Promise<boolean> {
    // Checked before settling, so a rejected commit leaves the reservation to commit or release.
    assertAmounts(actual, 'Reservation.commit');
    const done = this.commitNow(actual, details);
    if (typeof done === 'boolean') return done;
    await done;
    return true;
  }

  /**
   * @internal {@link commit}, without a promise when the store commits synchronously (the
   * in-memory store): `true` when committed, `false` when already settled, else a promise.
   */
  commitNow(actual: Amounts, details?: UsageDetails): boolean | Promise<void> {
    if (this.settled) return false;
    this.settled = true;
    const pending = this.ledger.settle(
      this.store,
      this.id,
      this.budgets,
      actual,
      details,
      this.expiresAt,
    );
    return pending ?? true;
  }

  /** Drops the reservation without recording usage. Resolves `false` if it was already settled. */
  async release(): Promise<boolean> {
    if (this.settled) return false;
    this.settled = true;
    const pending = this.ledger.drop(this.store, this.id, this.budgets);
    if (pending) await pending;
    return true;
  }
}
