import type { MaybePromise } from './ledger-store.interface.js';
import { isPromise } from './maybe-promise.js';

/** What the keeper renews (a `Reservation`). */
export interface RenewableReservation {
  readonly id: string;
  readonly expiresAt?: number;
  readonly isSettled: boolean;
  renew(expiresAt: number, now: number): MaybePromise<boolean>;
}

/**
 * Called when a renewal finds the store no longer holds an unsettled reservation; resolves
 * whether it is held again (it is then renewed on).
 */
export type LapsedHoldHandler<R extends RenewableReservation> = (
  reservation: R,
) => Promise<boolean>;

/** The longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Keeps reservations held while their calls run: `reservationTtl` bounds what a crashed process
 * holds, not how long a live call may take (a call outliving its reservation would let other
 * calls spend what it held, and a `request` budget be evicted under it). One unref'd timer per
 * ledger, running while reservations are unsettled, ticks every third of the ttl and renews each
 * reservation older than half a tick, so each is renewed with at least half the ttl left.
 */
export class ReservationRenewalKeeper<R extends RenewableReservation = RenewableReservation> {
  /**
   * Unsettled reservations, renewed in the store until they settle. Weak: a reservation nobody
   * can settle any more (dropped by a caller) is left to lapse.
   */
  private readonly live = new Map<string, WeakRef<R>>();
  private renewTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly clock: () => number,
    private readonly reservationTtlMs: number,
    private readonly onLapsed?: LapsedHoldHandler<R>,
  ) {}

  /** Renews `reservation` until it settles (one with no expiry never lapses: nothing to do). */
  keepAlive(reservation: R): void {
    if (reservation.expiresAt === undefined) return;
    this.live.set(reservation.id, new WeakRef(reservation));
    if (this.renewTimer !== undefined) return;
    this.renewTimer = setInterval(() => this.renewLive(), this.renewPeriodMs());
    this.renewTimer.unref?.();
  }

  /** Stops renewing a reservation (it is settling). */
  forget(reservationId: string): void {
    this.live.delete(reservationId);
  }

  /** Stops renewing every reservation (the ledger is closing). */
  close(): void {
    this.stopRenewing();
    this.live.clear();
  }

  /** A third of the ttl (within what a timer can wait). */
  private renewPeriodMs(): number {
    return Math.min(Math.floor(this.reservationTtlMs / 3), MAX_TIMER_MS);
  }

  private renewLive(): void {
    const now = this.clock();
    const ttl = this.reservationTtlMs;
    const stale = ttl - this.renewPeriodMs() / 2;
    for (const [id, ref] of this.live) {
      const reservation = ref.deref();
      if (reservation === undefined || reservation.isSettled) {
        this.live.delete(id);
        continue;
      }
      // Renewed (or made) less than half a period ago: the next tick is soon enough.
      if ((reservation.expiresAt as number) - now > stale) continue;
      const held = reservation.renew(now + ttl, now);
      if (isPromise(held)) void held.then((still) => still || this.lapsed(id, reservation));
      else if (!held) this.lapsed(id, reservation);
    }
    if (this.live.size === 0) this.stopRenewing();
  }

  /** The store no longer holds `reservation`: renewed on only if it is held again. */
  private lapsed(id: string, reservation: R): void {
    this.live.delete(id);
    if (reservation.isSettled || this.onLapsed === undefined) return;
    void this.onLapsed(reservation).then((again) => {
      if (again && !reservation.isSettled) this.keepAlive(reservation);
    });
  }

  private stopRenewing(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }
}
