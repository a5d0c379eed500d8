import { describe, expect, it } from 'vitest';
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
