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
      `Invalid sweepInterval of MemoryLedgerStore: "5 minutes". Expected a positive number of milliseconds or a string such as '500ms', '30s', '1m', '1h' or '1d'.`,
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
