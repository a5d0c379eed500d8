import type { Budget } from './budget.js';
import type { LedgerEventPublisher } from './ledger-events.publisher.js';
import type { LedgerStore } from './ledger-store.interface.js';
import type { ResolvedLedgerOptions } from './ledger.options.js';
import { isPromise } from './maybe-promise.js';
import type { Reservation } from './reservation.js';
import { messageOf } from './store-error.reader.js';
import { warnSafely } from './warn-logger.js';

/**
 * What the Ledger does when a renewal finds that the store no longer holds a call still running:
 * the store was unreachable (or this process stalled) for longer than the hold had left, and the
 * store let it lapse. Other calls may already have spent what it held. The call is held again
 * when it still fits (the stores replace a reservation reserved again under its id), and reported
 * either way: one warning and one `store-error` event. Its usage is recorded when it settles.
 */
export class LapsedHoldRecovery {
  constructor(
    private readonly store: LedgerStore,
    private readonly options: Pick<ResolvedLedgerOptions, 'logger' | 'onStoreError' | 'clock'>,
    private readonly publisher: LedgerEventPublisher,
    private readonly reservationTtlMs: number,
  ) {}

  /** Holds `reservation` again if it fits; resolves whether it is held. Never rejects. */
  recover(reservation: Reservation): Promise<boolean> {
    const now = this.options.clock();
    const expiresAt = now + this.reservationTtlMs;
    let outcome;
    try {
      outcome = this.store.reserve({
        reservationId: reservation.id,
        budgets: reservation.budgets,
        base: reservation.amounts,
        now,
        expiresAt,
      });
    } catch (error) {
      this.report(reservation, `it could not be held again (${messageOf(error)})`);
      return Promise.resolve(false);
    }
    const settle = (ok: boolean): boolean => {
      if (ok) reservation.expiresAt = expiresAt;
      this.report(
        reservation,
        ok
          ? 'it is held again; other calls may have spent part of it meanwhile'
          : 'it no longer fits its budgets and is not held: other calls spent what it held',
      );
      return ok;
    };
    if (!isPromise(outcome)) return Promise.resolve(settle(outcome.ok));
    return outcome.then(
      (o) => settle(o.ok),
      (error: unknown) => {
        this.report(reservation, `it could not be held again (${messageOf(error)})`);
        return false;
      },
    );
  }

  private report(reservation: Reservation, what: string): void {
    const message =
      `the hold of reservation ${reservation.id} on ${describeBudgets(reservation.budgets)} lapsed ` +
      `while its call ran (the store was unreachable, or this process stalled, for longer than the ` +
      `hold had left of reservationTtl ${this.reservationTtlMs} ms); ${what}. Its usage is ` +
      `recorded when it settles.`;
    warnSafely(this.options.logger, `Tokencap: ${message}`);
    this.publisher.publish({
      type: 'store-error',
      at: this.options.clock(),
      mode: this.options.onStoreError,
      message,
    });
  }
}

function describeBudgets(budgets: readonly Budget[]): string {
  return budgets.map((b) => `${b.scope}:${JSON.stringify(b.key.slice(0, 64))}`).join(', ');
}
