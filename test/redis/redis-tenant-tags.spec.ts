import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Budget, defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import { clusterSlot } from '../../lib/redis/cluster-slot.js';
import { RedisConfigError, RedisLedgerStore } from '../../lib/redis/index.js';
import { describeLedgerStoreContract } from '../contract/ledger-store.contract.js';
import {
  RedisClusterProcesses,
  redisServerBinaryAvailable,
  uniquePrefix,
} from './support/redis-env.js';

// Tenant hash tags on a real three-master Cluster: the application names each budget's tag, one
// tenant's budgets share a slot (one atomic script), tenants spread over the shards, and a call
// whose budgets would span slots is refused before anything is sent, naming the keys.
const binary = await redisServerBinaryAvailable();
if (!binary) {
  const reason = 'the redis-server binary is not available (set REDIS_SERVER_BIN)';
  if (process.env.CI === 'true')
    throw new Error(`Redis tenant-tag tests: ${reason}; CI=true requires it.`);
  console.warn(`Skipping the Redis tenant-tag tests: ${reason}.`);
}
const T0 = 1_700_006_400_000;

// Keys carry the tenant (`<tenant>/<rest>`); the global budget keeps its own tag.
const tenantTag = (b: Budget) => (b.scope === 'global' ? undefined : `t:${b.key.split('/')[0]}`);

function tenantBudgets(tenant: number, limits = { session: 100, user: 1_000, tenant: 10_000 }) {
  return [
    defineBudget({ scope: 'tenant', key: `${tenant}/all`, limit: limits.tenant }),
    defineBudget({ scope: 'user', key: `${tenant}/u1`, limit: limits.user }),
    defineBudget({ scope: 'session', key: `${tenant}/s1`, limit: limits.session }),
  ];
}

describe('clusterSlot', () => {
  it('is CRC16 mod 16384 of the first non-empty hash tag, as Redis computes it', () => {
    // Reference values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    expect(clusterSlot('123456789')).toBe(12739);
    expect(clusterSlot('foo')).toBe(12182);
    expect(clusterSlot('{user1000}.following')).toBe(clusterSlot('user1000'));
    expect(clusterSlot('foo{{bar}}zap')).toBe(clusterSlot('{bar'));
  });
});

describe.skipIf(!binary)('tenant hash tags on Redis Cluster', () => {
  const cluster = new RedisClusterProcesses(3);
  const prefix = uniquePrefix('tags');
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

  describeLedgerStoreContract('RedisLedgerStore on Cluster with a tag function', async () => {
    // The contract's budgets of one call have unrelated keys: one tag for all keeps them atomic.
    const store = new RedisLedgerStore({
      client,
      prefix: `${prefix}c:`,
      commandTimeout: 10_000,
      hashTag: () => 'one-tenant',
    });
    return { store, close: () => store.close() };
  });

  it('computes the slot Cluster computes, for any key the store builds', async () => {
    const store = new RedisLedgerStore({ client, prefix: `${prefix}k:`, hashTag: tenantTag });
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        async (tenant, rest) => {
          const safe = tenant.replace(/[{}\s\p{Cc}/]/gu, '_');
          const b = defineBudget({ scope: 'session', key: `${safe}/${rest}`, limit: 10 });
          const key = store.keysOf(b).ledger;
          expect(clusterSlot(key)).toBe(await client.call('CLUSTER', 'KEYSLOT', key));
        },
      ),
      { numRuns: 60 },
    );
    for (const key of ['foo{}{bar}', 'foo{{bar}}zap', '{}', 'a}b{c}', 'ünï{cödé}', '{a'])
      expect(clusterSlot(key), key).toBe(await client.call('CLUSTER', 'KEYSLOT', key));
  });

  it("holds a tenant's session, user and tenant budgets in one script, all or nothing", async () => {
    const store = new RedisLedgerStore({ client, prefix: `${prefix}a:`, hashTag: tenantTag });
    const budgets = tenantBudgets(42, { session: 1_000, user: 1_000, tenant: 100 });
    const slots = new Set(budgets.map((b) => clusterSlot(store.keysOf(b).ledger)));
    expect(slots.size).toBe(1);
    expect(store.keysOf(budgets[2]).ledger).toBe(`${prefix}a:{t:42}:session:42/s1:l`);
    const held = await store.reserve({
      reservationId: 'r1',
      budgets,
      base: { tokens: 60 },
      now: T0,
      expiresAt: T0 + 60_000,
    });
    expect(held).toMatchObject({ ok: true, amounts: { tokens: 60 } });
    // The tenant budget (index 0) has 40 left: refused, and nothing more held on the others.
    const refused = await store.reserve({
      reservationId: 'r2',
      budgets,
      base: { tokens: 60 },
      now: T0,
      expiresAt: T0 + 60_000,
    });
    expect(refused).toMatchObject({ ok: false, index: 0, dimension: 'tokens', requested: 60 });
    expect(await store.snapshot(budgets, T0)).toEqual([
      { used: {}, reserved: { tokens: 60 } },
      { used: {}, reserved: { tokens: 60 } },
      { used: {}, reserved: { tokens: 60 } },
    ]);
    const c = await store.commit({
      reservationId: 'r1',
      budgets,
      actual: { tokens: 55 },
      now: T0,
    });
    expect(c.snapshots).toEqual([
      { used: { tokens: 55 }, reserved: {} },
      { used: { tokens: 55 }, reserved: {} },
      { used: { tokens: 55 }, reserved: {} },
    ]);
  });

  it('spreads tenants over every shard', async () => {
    const store = new RedisLedgerStore({ client, prefix: `${prefix}s:`, hashTag: tenantTag });
    for (let tenant = 0; tenant < 24; tenant++) {
      await store.commit({
        reservationId: `c${tenant}`,
        budgets: tenantBudgets(tenant),
        actual: { tokens: 1 },
        now: T0,
      });
    }
    const counts = await Promise.all(
      client.nodes('master').map(async (node) => (await node.keys(`${prefix}s:*`)).length),
    );
    expect(counts).toHaveLength(3);
    for (const n of counts) expect(n).toBeGreaterThan(0);
    // Each tenant's keys live together: 3 ledgers per tenant, none split across nodes.
    for (const n of counts) expect(n % 3).toBe(0);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(24 * 3);
  });

  it('refuses a call whose budgets have different tags before sending it, naming every key', async () => {
    const store = new RedisLedgerStore({ client, prefix: `${prefix}x:`, hashTag: tenantTag });
    const budgets = [...tenantBudgets(7), ...tenantBudgets(8).slice(2)];
    const sent = vi.spyOn(client, 'evalsha');
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
    expect(sent).not.toHaveBeenCalled();
    sent.mockRestore();
    expect(error).toBeInstanceOf(RedisConfigError);
    expect(error).toMatchObject({ reason: 'cross-slot', mayHaveApplied: false });
    for (const b of budgets)
      expect((error as Error).message).toContain(`${b.id} → ${store.keysOf(b).ledger}`);
    // Through a Ledger: a configuration error, not an outage (fail-open would not run it either).
    const ledger = new Ledger({ store, clock: () => T0, logger: { warn: () => undefined } });
    await expect(ledger.reserve(budgets, { base: { tokens: 1 } })).rejects.toBeInstanceOf(
      RedisConfigError,
    );
  });

  it('names the budget and the value when the tag function returns a bad tag', async () => {
    for (const bad of ['', 'a{b', 'has space', 'x'.repeat(65), 42]) {
      const store = new RedisLedgerStore({
        client,
        prefix: `${prefix}b:`,
        hashTag: () => bad as string,
      });
      const b = defineBudget({ scope: 'session', key: 'abc', limit: 10 });
      await expect(store.snapshot([b], T0)).rejects.toMatchObject({
        reason: 'invalid-input',
        message: expect.stringContaining(`${JSON.stringify(bad)} for budget session:abc`),
      });
    }
  });
});

describe.skipIf(!binary)('tenant hash tags on a single Redis', () => {
  it('checks slots there too, so a layout that would fail on Cluster fails in development', async () => {
    const fake = {
      status: 'ready',
      isCluster: false,
      evalsha: vi.fn(),
      eval: vi.fn(),
    };
    const store = new RedisLedgerStore({ client: fake as unknown as Redis, hashTag: tenantTag });
    const budgets = [tenantBudgets(1)[0], tenantBudgets(2)[0]];
    await expect(store.snapshot(budgets, T0)).rejects.toMatchObject({ reason: 'cross-slot' });
    expect(fake.evalsha).not.toHaveBeenCalled();
  });
});
