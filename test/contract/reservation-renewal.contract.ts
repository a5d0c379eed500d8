import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import type { StoreErrorEvent } from '../../lib/core/events.js';
import type { ExtendInput, LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { BudgetExceededError } from '../../lib/errors.js';

export interface RenewalHarness {
  store: LedgerStore;
  close(): Promise<unknown>;
}

const T0 = Date.parse('2026-03-02T00:00:00.000Z');
const TTL = 1_000;
/** A call: 9 prompt tokens and up to 50 output tokens (about 59 billed). */
const CALL = { base: { tokens: 9 }, units: { min: 1, max: 50, ifUnbounded: 50 } };

/**
 * A reservation whose call is still running in this process is kept held past `reservationTtl`;
 * one its process stopped renewing (a crash) still lapses after it. Time is an injected clock and
 * faked intervals; every renewal the store was sent is awaited before the clock moves on.
 */
export function describeReservationRenewalContract(
  name: string,
  create: () => Promise<RenewalHarness>,
  /** Whether a second Ledger's reservations lapse in the store (not in a lease held here). */
  sharedHolds = true,
): void {
  describe(`reservations of running calls: ${name}`, () => {
    let harness: RenewalHarness;
    let store: LedgerStore;
    let ledger: Ledger;
    let now: number;
    let run: string;
    const renewals: Promise<unknown>[] = [];
    /** While true, renewals fail as when the store is unreachable. */
    let extendDown = false;
    let storeErrors: StoreErrorEvent[];

    beforeEach(async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      harness = await create();
      // The store as the Ledger sees it, with each renewal recorded so the test can await it.
      const inner = harness.store;
      store = {
        reserve: (i) => inner.reserve(i),
        commit: (i) => inner.commit(i),
        release: (i) => inner.release(i),
        snapshot: (b, n) => inner.snapshot(b, n),
        extend: (i: ExtendInput) => {
          if (extendDown) throw new Error('store unreachable');
          const result = inner.extend!(i);
          renewals.push(Promise.resolve(result));
          return result;
        },
      };
      now = T0;
      run = randomUUID().slice(0, 8);
      extendDown = false;
      ledger = new Ledger({
        store,
        clock: () => now,
        reservationTtl: TTL,
        logger: { warn: () => undefined },
      });
      storeErrors = [];
      ledger.events$.subscribe((e) => e.type === 'store-error' && storeErrors.push(e));
    });
    afterEach(async () => {
      await ledger.close();
      await harness.close();
      vi.useRealTimers();
    });

    /** Moves the clock and the timers on by `ms`, 50 ms at a time, letting each renewal land. */
    async function advance(ms: number): Promise<void> {
      for (let done = 0; done < ms; done += 50) {
        now += 50;
        vi.advanceTimersByTime(50);
        await Promise.all(renewals.splice(0));
      }
    }

    it('keeps a request budget and its held call alive past the ttl: the third call is refused', async () => {
      // A `request` budget as the Nest module declares it: ttl = reservationTtl.
      const request = defineBudget({ scope: 'request', key: `${run}-r`, limit: 100, ttl: TTL });
      const first = await ledger.reserve([request], CALL);
      await advance(2_500);
      await first.commit({ tokens: 59 });
      const second = await ledger.reserve([request], CALL);
      expect(second.units).toBe(32); // clamped to 100 - 59 - 9
      await advance(2_500);
      await expect(ledger.reserve([request], CALL)).rejects.toBeInstanceOf(BudgetExceededError);
      await second.commit({ tokens: 39 });
      const [usage] = await ledger.usage([request]);
      expect([usage.used, usage.reserved]).toEqual([98, 0]);
      // Idle (nothing in flight) for longer than its ttl, it is dropped as documented.
      await advance(1_050);
      expect((await ledger.usage([request]))[0].used).toBe(0);
    });

    it('keeps an in-flight hold on a session budget: a later call is clamped to what is left', async () => {
      const session = defineBudget({ scope: 'session', key: `${run}-s`, limit: 100, window: '1h' });
      const first = await ledger.reserve([session], CALL);
      await advance(1_500);
      const second = await ledger.reserve([session], CALL);
      expect(second.units).toBe(32);
      await first.commit({ tokens: 59 });
      await second.commit({ tokens: 41 });
      const [usage] = await ledger.usage([session]);
      expect([usage.used, usage.reserved]).toEqual([100, 0]);
    });

    it.runIf(sharedHolds)(
      'lets the hold of a process that stopped renewing (crashed) lapse after the ttl',
      async () => {
        const session = defineBudget({
          scope: 'session',
          key: `${run}-c`,
          limit: 100,
          window: '1h',
        });
        const crashed = new Ledger({ store, clock: () => now, reservationTtl: TTL });
        await crashed.reserve([session], CALL);
        // Closing stops its renewals, as a crash would; the reservation is never settled.
        await crashed.close();
        await advance(900);
        expect((await ledger.reserve([session], CALL)).units).toBe(32);
        await advance(200);
        const [usage] = await ledger.usage([session]);
        expect(usage.reserved).toBe(41); // only the live call's hold is left
      },
    );

    it.runIf(sharedHolds)(
      'a hold that lapsed while renewals failed is held again when it still fits, and reported once',
      async () => {
        const session = defineBudget({
          scope: 'session',
          key: `${run}-l`,
          limit: 60,
          window: '1h',
        });
        const first = await ledger.reserve([session], CALL);
        expect(first.units).toBe(50);
        extendDown = true;
        await advance(1_500); // past the hold's expiry: the store lets it lapse
        extendDown = false;
        await advance(400); // the next renewal finds it gone and holds it again
        await vi.waitFor(() => expect(storeErrors).toHaveLength(1));
        // Nobody took it meanwhile, so it holds again: 59 of 60 held, a 10-token call is refused.
        await expect(ledger.reserve([session], CALL)).rejects.toBeInstanceOf(BudgetExceededError);
        expect(storeErrors).toHaveLength(1);
        expect(storeErrors[0].message).toMatch(
          /the hold of reservation \S+ on session:"[^"]+-l" lapsed while its call ran .* it is held again/,
        );
        await advance(2_500); // renewed on as before
        await expect(ledger.reserve([session], CALL)).rejects.toBeInstanceOf(BudgetExceededError);
        await first.commit({ tokens: 59 });
        const [usage] = await ledger.usage([session]);
        expect([usage.used, usage.reserved]).toEqual([59, 0]);
        expect(storeErrors).toHaveLength(1);
      },
    );

    it.runIf(sharedHolds)(
      'a lapsed hold another call spent meanwhile is reported, and its usage still recorded',
      async () => {
        const session = defineBudget({
          scope: 'session',
          key: `${run}-t`,
          limit: 60,
          window: '1h',
        });
        const first = await ledger.reserve([session], CALL);
        const other = new Ledger({
          store: harness.store,
          clock: () => now,
          reservationTtl: 60_000,
        });
        extendDown = true;
        await advance(1_500);
        const second = await other.reserve([session], CALL); // the lapsed hold's capacity
        expect(second.units).toBe(50);
        extendDown = false;
        await advance(400);
        await vi.waitFor(() => expect(storeErrors).toHaveLength(1));
        expect(storeErrors[0].message).toMatch(
          /lapsed while its call ran .* it no longer fits its budgets and is not held/,
        );
        await first.commit({ tokens: 59 });
        await second.commit({ tokens: 59 });
        await other.close();
        const [usage] = await ledger.usage([session]);
        expect([usage.used, usage.reserved]).toEqual([118, 0]);
      },
    );
  });
}
