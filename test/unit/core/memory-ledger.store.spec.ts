import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ledger } from '../../../lib/core/ledger.js';
import { defineBudget } from '../../../lib/core/budget.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { describeLedgerStoreContract } from '../../contract/ledger-store.contract.js';

describeLedgerStoreContract('MemoryLedgerStore', async () => {
  const store = new MemoryLedgerStore({ sweepInterval: false });
  return { store, close: () => store.close() };
});

describe('MemoryLedgerStore eviction', () => {
  const T0 = 1_700_000_000_000;

  it('evicts ledgers past their ttl or window on sweep, and keeps those with a reservation in flight', async () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    for (let i = 0; i < 1_000; i++) {
      const b = defineBudget({ scope: 'session', key: `s${i}`, limit: 100, ttl: '10m' });
      await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 1 }, now: T0 });
    }
    const windowed = defineBudget({ scope: 'user', key: 'u', limit: 100, window: '1h' });
    await store.commit({ reservationId: 'x', budgets: [windowed], actual: { tokens: 1 }, now: T0 });
    const busy = defineBudget({ scope: 'session', key: 'busy', limit: 100, ttl: '1m' });
    await store.reserve({
      reservationId: 'held',
      budgets: [busy],
      base: { tokens: 5 },
      now: T0,
      expiresAt: T0 + 3_600_000,
    });
    expect(store.size).toBe(1_002);

    store.sweep(T0 + 10 * 60_000 + 1);
    expect(store.size).toBe(2); // the windowed ledger's hour has not ended; the busy one holds a reservation
    store.sweep(T0 + 3_600_000);
    expect(store.size).toBe(0);
    await store.close();
  });

  it('sweeps on an unref-ed timer that close() clears', async () => {
    const store = new MemoryLedgerStore({ sweepInterval: '1s' });
    const timer = (store as unknown as { sweeper: NodeJS.Timeout }).sweeper;
    expect(timer.hasRef()).toBe(false);
    await store.close();
    expect((store as unknown as { sweeper?: NodeJS.Timeout }).sweeper).toBeUndefined();
  });

  it('rejects a malformed sweep interval naming it', () => {
    expect(() => new MemoryLedgerStore({ sweepInterval: '5 minutes' as never })).toThrow(
      `Invalid sweepInterval of MemoryLedgerStore: "5 minutes". Expected a whole number of milliseconds ≥ 1 or a string such as '500ms', '30s', '1m', '1h' or '1d'.`,
    );
  });
});

describe('MemoryLedgerStore sweep under a Ledger with its own clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Days away from real time either way: a sweep on real time would see the window as over
  // (clock in the past) or, with a short ttl, the ledger as idle.
  it.each([-2 * 86_400_000, 2 * 86_400_000, -400 * 86_400_000])(
    'keeps current-window usage and credit (clock offset %d ms)',
    async (offset) => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const store = new MemoryLedgerStore({ sweepInterval: '1m' });
      const ledger = new Ledger({ store, clock: () => Date.now() + offset });
      const day = defineBudget({ scope: 'user', key: 'u', limit: 1000, window: 'day' });
      const idle = defineBudget({ scope: 'session', key: 's', limit: 1000, ttl: '10m' });
      await ledger.charge([day, idle], { tokens: 400 });
      await ledger.credit(day, { tokens: 100 });
      vi.advanceTimersByTime(5 * 60_000); // five sweeps
      const [u, s] = await ledger.usage([day, idle]);
      expect([u.used, u.credit, u.limit]).toEqual([400, 100, 1100]);
      expect(s.used).toBe(400);
      await ledger.close();
    },
  );
});

describe('MemoryLedgerStore holds', () => {
  const T0 = 1_700_000_000_000;
  const b = defineBudget({ scope: 'session', key: 'holds', limit: 1_000 });
  const reserve = (store: MemoryLedgerStore, id: string, tokens: number, expiresAt = T0 + 60_000) =>
    store.reserve({ reservationId: id, budgets: [b], base: { tokens }, now: T0, expiresAt });
  const reserved = (store: MemoryLedgerStore, now = T0) => store.snapshot([b], now)[0].reserved;

  it('holds one reservation, then several, then one again, whatever the order they settle in', () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    reserve(store, 'a', 10);
    expect(reserved(store)).toEqual({ tokens: 10 });
    reserve(store, 'a', 15); // the same id again replaces its hold
    expect(reserved(store)).toEqual({ tokens: 15 });
    reserve(store, 'b', 20);
    reserve(store, 'c', 40);
    expect(reserved(store)).toEqual({ tokens: 75 });
    expect(store.release({ reservationId: 'b', budgets: [b], now: T0 })).toBe(true);
    expect(
      store.commit({ reservationId: 'a', budgets: [b], actual: { tokens: 5 }, now: T0 }),
    ).toMatchObject({
      released: true,
      snapshots: [{ used: { tokens: 5 }, reserved: { tokens: 40 } }],
    });
    reserve(store, 'd', 1);
    expect(reserved(store)).toEqual({ tokens: 41 });
    expect(store.release({ reservationId: 'c', budgets: [b], now: T0 })).toBe(true);
    expect(store.release({ reservationId: 'd', budgets: [b], now: T0 })).toBe(true);
    expect(store.release({ reservationId: 'd', budgets: [b], now: T0 })).toBe(false);
    expect(reserved(store)).toEqual({});
    reserve(store, 'e', 7);
    expect(reserved(store)).toEqual({ tokens: 7 });
  });

  it('lapses the expired holds only, alone or among others', () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    reserve(store, 'sole', 10, T0 + 1_000);
    expect(reserved(store, T0 + 999)).toEqual({ tokens: 10 });
    expect(reserved(store, T0 + 1_000)).toEqual({});
    reserve(store, 'early', 10, T0 + 2_000);
    reserve(store, 'late', 30, T0 + 5_000);
    expect(reserved(store, T0 + 2_000)).toEqual({ tokens: 30 });
    expect(reserved(store, T0 + 5_000)).toEqual({});
    // A lapsed reservation committed late is still charged, once.
    const late = { reservationId: 'late', budgets: [b], actual: { tokens: 3 }, now: T0 + 6_000 };
    expect(store.commit({ ...late, ifUnknown: 'skip' }).snapshots[0].used).toEqual({ tokens: 3 });
    expect(store.commit({ ...late, ifUnknown: 'skip' }).snapshots[0].used).toEqual({ tokens: 3 });
  });
});
