import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import { RedisConfigError, RedisLedgerStore } from '../../lib/redis/index.js';
import { describeLedgerStoreContract } from '../contract/ledger-store.contract.js';
import {
  RedisClusterProcesses,
  redisServerBinaryAvailable,
  uniquePrefix,
} from './support/redis-env.js';

// A real three-master Redis Cluster, started for this file: the hash-tag choice is only proven
// against Cluster's CROSSSLOT rule, script routing and per-node script caches.
const binary = await redisServerBinaryAvailable();
if (!binary) {
  const reason = 'the redis-server binary is not available (set REDIS_SERVER_BIN)';
  if (process.env.CI === 'true')
    throw new Error(`Redis Cluster tests: ${reason}; CI=true requires it.`);
  console.warn(`Skipping the Redis Cluster tests: ${reason}.`);
}
const T0 = 1_700_006_400_000;

describe.skipIf(!binary)('RedisLedgerStore on Redis Cluster', () => {
  const cluster = new RedisClusterProcesses(3);
  const prefix = uniquePrefix('cluster');
  let client: Cluster;

  beforeAll(async () => {
    await cluster.start();
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    await client.ping();
  }, 60_000);
  afterAll(async () => {
    await client?.quit();
    await cluster.stop();
  });

  describeLedgerStoreContract(
    'RedisLedgerStore on Cluster (single-slot, the default there)',
    async () => {
      const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
      return { store, close: () => store.close() };
    },
  );

  it('defaults to one slot on a Cluster client, so nested budgets reserve atomically', async () => {
    const store = new RedisLedgerStore({ client, prefix });
    const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000 });
    const session = defineBudget({ scope: 'session', key: 'abc', limit: 100 });
    expect(store.keysOf(session).ledger).toBe(`${prefix}{all}:session:abc:l`);
    const r = await store.reserve({
      reservationId: 'r',
      budgets: [global, session],
      base: { tokens: 60 },
      now: T0,
      expiresAt: T0 + 60_000,
    });
    expect(r.ok).toBe(true);
    expect(
      await store.reserve({
        reservationId: 'r2',
        budgets: [global, session],
        base: { tokens: 60 },
        now: T0,
        expiresAt: T0 + 60_000,
      }),
    ).toMatchObject({
      ok: false,
      index: 1,
    });
  });

  it('per-budget tags spread budgets over nodes; a call spanning slots fails with a message naming the fix', async () => {
    const store = new RedisLedgerStore({ client, prefix: `${prefix}pb:`, hashTag: 'per-budget' });
    const budgets = Array.from({ length: 12 }, (_, i) =>
      defineBudget({ scope: 'session', key: `s${i}`, limit: 100 }),
    );
    for (const b of budgets) {
      await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 1 }, now: T0 });
    }
    const slots = new Set(
      await Promise.all(
        budgets.map(
          async (b) => (await client.call('CLUSTER', 'KEYSLOT', store.keysOf(b).ledger)) as number,
        ),
      ),
    );
    expect(slots.size).toBeGreaterThan(1);
    const error = await store
      .reserve({
        reservationId: 'r',
        budgets,
        base: { tokens: 1 },
        now: T0,
        expiresAt: T0 + 60_000,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(RedisConfigError);
    expect(error).toMatchObject({
      reason: 'cross-slot',
      message: expect.stringContaining("hashTag: 'single-slot'"),
    });
    // Through a Ledger that is a configuration error, never an outage: refused, not skipped.
    const ledger = new Ledger({ store, clock: () => T0, logger: { warn: () => undefined } });
    await expect(ledger.reserve(budgets, { base: { tokens: 1 } })).rejects.toBeInstanceOf(
      RedisConfigError,
    );
  });

  it('reloads scripts on every node after SCRIPT FLUSH', async () => {
    const store = new RedisLedgerStore({
      client,
      prefix: `${prefix}flush:`,
      hashTag: 'per-budget',
    });
    const budgets = Array.from({ length: 6 }, (_, i) =>
      defineBudget({ scope: 'session', key: `f${i}`, limit: 100 }),
    );
    for (const b of budgets)
      await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 1 }, now: T0 });
    await Promise.all(client.nodes('master').map((node) => node.script('FLUSH')));
    for (const b of budgets) {
      const c = await store.commit({
        reservationId: 'x',
        budgets: [b],
        actual: { tokens: 2 },
        now: T0,
      });
      expect(c.snapshots).toEqual([{ used: { tokens: 3 }, reserved: {} }]);
    }
  });
});
