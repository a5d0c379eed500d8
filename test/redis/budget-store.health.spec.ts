import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoreErrorEvent } from '../../lib/core/events.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { healthModule } from '../fixtures/health.fixture.js';
import { listenOn, type ListeningApp, send } from '../fixtures/http-adapters.fixture.js';
import { SESSION_HEADER } from '../fixtures/scopes.fixture.js';
import {
  freePort,
  RedisServerProcess,
  redisServerBinaryAvailable,
  uniquePrefix,
} from './support/redis-env.js';

const binary = await redisServerBinaryAvailable();
if (!binary && process.env.CI === 'true') {
  throw new Error('Budget store health tests: the redis-server binary is required under CI=true.');
}

describe('BudgetStoreHealthIndicator (tokencap/terminus)', () => {
  let t: ListeningApp | undefined;
  let server: RedisServerProcess | undefined;
  let client: Redis | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
    client?.disconnect();
    client = undefined;
    await server?.kill();
    server = undefined;
  });

  const health = () => send(`${t!.url}/health`, 'GET');

  it('is up on the memory store', async () => {
    t = await listenOn('express', { imports: [healthModule({ store: new MemoryLedgerStore() })] });
    const res = await health();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ok',
      info: { 'budget-store': { status: 'up' } },
      error: {},
      details: { 'budget-store': { status: 'up' } },
    });
  });

  it('is down when the store does not answer in time, dated by its first failed probe', async () => {
    const memory = new MemoryLedgerStore();
    let hang = false;
    const store: LedgerStore = {
      reserve: (input) => memory.reserve(input),
      commit: (input) => memory.commit(input),
      release: (input) => memory.release(input),
      snapshot: (budgets, now) =>
        hang ? new Promise(() => undefined) : memory.snapshot(budgets, now),
      close: () => memory.close(),
    };
    t = await listenOn('express', { imports: [healthModule({ store })] });
    expect((await health()).status).toBe(200);
    hang = true;
    const before = Date.now();
    const first = await health();
    const after = Date.now();
    expect(first.status).toBe(503);
    const down = first.body.error['budget-store'];
    expect(down).toEqual({
      status: 'down',
      since: expect.any(String),
      error: 'the budget store did not answer within 300 ms',
    });
    expect(Date.parse(down.since)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(down.since)).toBeLessThanOrEqual(after);
    // The same outage keeps its start.
    const second = await health();
    expect(second.body.error['budget-store'].since).toBe(down.since);
    hang = false;
    expect((await health()).status).toBe(200);
  });

  it.skipIf(!binary)(
    'follows a real Redis: up, down from the call that met the outage with Redis’s error, up again after a restart',
    async () => {
      server = new RedisServerProcess(await freePort());
      await server.start();
      client = new Redis({
        host: '127.0.0.1',
        port: server.port,
        retryStrategy: (times) => Math.min(times * 50, 200),
      });
      client.on('error', () => undefined);
      const store = new RedisLedgerStore({
        client,
        commandTimeout: 200,
        prefix: uniquePrefix('health'),
      });
      t = await listenOn('express', { imports: [healthModule({ store })] });
      const outages: StoreErrorEvent[] = [];
      t.app.get(BudgetService).events$.subscribe((e) => {
        if (e.type === 'store-error') outages.push(e);
      });
      const chat = () =>
        send(`${t!.url}/h/chat`, 'POST', { tokens: 10 }, { [SESSION_HEADER]: 'h' });

      expect((await chat()).status).toBe(201);
      expect((await health()).body.info).toEqual({ 'budget-store': { status: 'up' } });

      await server.kill();
      expect((await chat()).status).toBe(503);
      expect(outages).toHaveLength(1);
      const res = await health();
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('error');
      const down = res.body.error['budget-store'];
      expect(down).toEqual({
        status: 'down',
        since: new Date(outages[0].at).toISOString(),
        // What the store itself says: the probe reads it directly, not through the ledger.
        error: expect.stringMatching(
          /^Redis is unreachable \(connection \w+\); snapshot was not sent\.$/,
        ),
        mode: 'fail-closed',
      });
      await server.start();
      let up: Awaited<ReturnType<typeof health>> | undefined;
      for (let i = 0; i < 100 && up?.status !== 200; i++) {
        up = await health();
        if (up.status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      expect(up?.body.details).toEqual({ 'budget-store': { status: 'up' } });
      expect((await chat()).status).toBe(201);
    },
  );
});
