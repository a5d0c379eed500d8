import { describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { redisAvailable, redisSuite } from './support/redis-env.js';

// How big a lease is and when it goes back: a chunk is never less than the call waiting for it and
// at most an eighth of what Redis showed free, so one replica never locks the others out, and a
// retired lease whose calls are done is returned at once, so the last units are not stranded.
const available = await redisAvailable('the lease chunk tests');
const quiet = { warn: () => undefined };

describe.skipIf(!available)('lease chunks', () => {
  const { prefix, client } = redisSuite('lease-chunks');

  const replica = (p: string) => {
    const store = new RedisLedgerStore({
      client,
      prefix: p,
      lease: { budgets: (b) => b.scope === 'global', idle: '10m' },
    });
    return { store, ledger: new Ledger({ store, logger: quiet }) };
  };
  /** Tokens Redis counts as reserved on the global ledger (every replica's leases). */
  const reservedIn = async (store: RedisLedgerStore) => {
    const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000 });
    return Number((await client.hget(store.keysOf(global).ledger, 'r1')) ?? 0);
  };

  it('the first lease is the call; the next is at most an eighth of what Redis showed free', async () => {
    const p = `${prefix}first:`;
    const { store, ledger } = replica(p);
    const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000 });
    const r = await ledger.reserve([global], { base: { tokens: 100 } });
    // The call's own lease (100) plus the next, prefetched: an eighth of the 900 free, rounded up.
    await vi.waitFor(async () => expect(await reservedIn(store)).toBe(100 + 113));
    await r.commit({ tokens: 100 });
    await ledger.close();
    expect(await reservedIn(store)).toBe(0);
  });

  it('a replica with a 125-token call in flight does not lock another out of a 1,000-token budget', async () => {
    const p = `${prefix}lockout:`;
    const a = replica(p);
    const b = replica(p);
    const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000 });
    const inFlight = await a.ledger.reserve([global], { base: { tokens: 125 } });
    const other = await b.ledger.reserve([global], { base: { tokens: 100 } });
    await other.commit({ tokens: 100 });
    await inFlight.commit({ tokens: 125 });
    await a.ledger.close();
    await b.ledger.close();
    expect(
      await new RedisLedgerStore({ client, prefix: p }).snapshot([global], Date.now()),
    ).toEqual([{ used: { tokens: 225 }, reserved: {} }]);
  });
});

describe.skipIf(!available)('retired leases', () => {
  const { prefix, client } = redisSuite('lease-retired');

  const ledgerOn = (p: string) =>
    new Ledger({
      logger: quiet,
      store: new RedisLedgerStore({
        client,
        prefix: p,
        lease: { budgets: (b) => b.scope === 'global', idle: '10m' },
      }),
    });

  for (const replicas of [1, 2]) {
    it(`${replicas} replica(s) spending in turn use the whole budget: a retired lease with no call left is returned at once`, async () => {
      const p = `${prefix}r${replicas}:`;
      const ledgers = Array.from({ length: replicas }, () => ledgerOn(p));
      const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000 });
      for (let i = 0; i < 100; i++) {
        const r = await ledgers[i % replicas].reserve([global], { base: { tokens: 10 } });
        await r.commit({ tokens: 10 });
      }
      const check = new RedisLedgerStore({ client, prefix: p });
      const [before] = await check.snapshot([global], Date.now());
      // No call is in flight: what Redis holds as reserved is only what the current leases spent.
      expect((before.used.tokens ?? 0) + (before.reserved.tokens ?? 0)).toBe(1_000);
      await Promise.all(ledgers.map((l) => l.close()));
      expect(await check.snapshot([global], Date.now())).toEqual([
        { used: { tokens: 1_000 }, reserved: {} },
      ]);
    });
  }
});
