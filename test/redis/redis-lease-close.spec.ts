import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { StoreErrorEvent, TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import {
  RedisServerProcess,
  freePort,
  redisAvailable,
  redisServerBinaryAvailable,
  uniquePrefix,
} from './support/redis-env.js';

// close() returns every lease and records what it spent; what it cannot write (Redis down or
// paused) is reported like any settlement the Ledger could not write, and close() keeps to
// closeTimeout (plus one command timeout for the last attempt).
const available = await redisAvailable('the lease close tests');
const binary = available && (await redisServerBinaryAvailable());

describe.skipIf(!binary)('closing a replica that holds a spent lease while Redis is away', () => {
  let server: RedisServerProcess;
  const clients: Redis[] = [];

  beforeEach(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await server.kill();
  });

  for (const away of ['paused', 'down'] as const) {
    it(`reports the lease's spending as unwritten when Redis is ${away}, within closeTimeout`, async () => {
      const client = new Redis({ port: server.port, retryStrategy: () => 50 });
      client.on('error', () => undefined);
      clients.push(client);
      const admin = new Redis({ port: server.port, retryStrategy: () => null });
      admin.on('error', () => undefined);
      clients.push(admin);
      const store = new RedisLedgerStore({
        client,
        prefix: uniquePrefix(`lease-close-${away}`),
        commandTimeout: 200,
        lease: { budgets: (b) => b.scope === 'global', idle: '10m' },
      });
      const ledger = new Ledger({
        store,
        logger: { warn: () => undefined },
        closeTimeout: '300ms',
      });
      const events: TokencapEvent[] = [];
      ledger.events$.subscribe((e) => events.push(e));
      const global = defineBudget({ scope: 'global', key: 'all', limit: 10_000 });
      // Calls spent in leases: at least the last lease's spending is still in this replica.
      let spent = 0;
      for (let i = 0; i < 30; i++) {
        const r = await ledger.reserve([global], { base: { tokens: 20 } });
        await r.commit({ tokens: 20 });
        spent += 20;
      }
      const inRedis = Number((await admin.hget(store.keysOf(global).ledger, 'u1')) ?? 0);
      expect(inRedis).toBeLessThan(spent);
      if (away === 'paused') await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
      else await server.kill();
      const started = Date.now();
      await ledger.close();
      const took = Date.now() - started;
      const report = events.filter((e): e is StoreErrorEvent => e.type === 'store-error').at(-1);
      const unwritten = (report?.unwritten ?? []).reduce(
        (sum, u) => sum + (u.amounts?.tokens ?? 0),
        0,
      );
      // Nothing silently lost: Redis had `inRedis`, the report names the rest.
      expect(inRedis + unwritten).toBe(spent);
      expect(report?.unwritten?.every((u) => u.kind === 'commit')).toBe(true);
      expect(took).toBeLessThan(300 + 200 + 700);
    }, 20_000);
  }
});
