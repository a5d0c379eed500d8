import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Budget, defineBudget } from '../../lib/core/budget.js';
import type { StoreErrorEvent, TokencapEvent } from '../../lib/core/events.js';
import { Ledger, type LedgerOptions } from '../../lib/core/ledger.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { RedisServerProcess, freePort, redisServerBinaryAvailable } from './support/redis-env.js';

// What survives a Redis outage, a Redis restart (with and without persistence) and a process
// crash: each claim of docs/redis.md, "When Redis fails", is one test here. Every test runs its
// own redis-server on a free port (killed with SIGKILL, as in a crash) and talks to it through a
// user's ioredis client with default options (offline queue and resend on).

const binary = await redisServerBinaryAvailable();
if (!binary) {
  const reason = 'the redis-server binary is not available (set REDIS_SERVER_BIN)';
  if (process.env.CI === 'true')
    throw new Error(`Redis settlement tests: ${reason}; CI=true requires it.`);
  console.warn(`Skipping the Redis settlement tests: ${reason}.`);
}

const MINUTE = 60_000;

describe.skipIf(!binary)('settlement across Redis outages and restarts', () => {
  let server: RedisServerProcess;
  let client: Redis;
  const clients: Redis[] = [];
  let dataDir: string | undefined;
  let skew = 0;
  const ledgers: Ledger[] = [];
  let n = 0;
  const budget = (limit = 100): Budget => defineBudget({ scope: 'session', key: `s${++n}`, limit });
  // The ledger clock: real time plus a skew a test moves forward to let reservations lapse.
  const clock = () => Date.now() + skew;

  async function startRedis(persistent: boolean): Promise<RedisLedgerStore> {
    dataDir = persistent ? await mkdtemp(join(tmpdir(), 'tokencap-aof-')) : undefined;
    server = new RedisServerProcess(await freePort(), undefined, dataDir);
    await server.start();
    const store = await connect();
    client = store.client as Redis;
    return store;
  }

  /** Another connection to the test's server, as another replica would have. */
  async function connect(): Promise<RedisLedgerStore> {
    const c = new Redis({
      host: '127.0.0.1',
      port: server.port,
      retryStrategy: (times) => Math.min(times * 50, 300),
    });
    c.on('error', () => undefined);
    clients.push(c);
    await vi.waitFor(() => expect(c.status).toBe('ready'));
    return new RedisLedgerStore({ client: c, commandTimeout: 500 });
  }

  function ledgerOn(store: RedisLedgerStore, options: Partial<LedgerOptions> = {}) {
    const events: TokencapEvent[] = [];
    const ledger = new Ledger({
      store,
      clock,
      reservationTtl: '15m',
      logger: { warn: () => undefined },
      ...options,
    });
    ledger.events$.subscribe((e) => events.push(e));
    ledgers.push(ledger);
    return { ledger, events };
  }

  async function restart(): Promise<void> {
    await server.kill();
    await server.start();
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5_000, interval: 20 });
  }

  const written = (ledger: Ledger) =>
    vi.waitFor(() => expect(ledger.pendingSettlements).toBe(0), { timeout: 10_000, interval: 25 });

  afterEach(async () => {
    for (const ledger of ledgers.splice(0)) await ledger.close().catch(() => undefined);
    await server?.kill();
    for (const c of clients.splice(0)) c.disconnect();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    skew = 0;
  });

  it('a commit that fails while Redis is down reaches it after a restart with persistence, and the budget holds after the reservation lapses', async () => {
    const store = await startRedis(true);
    const { ledger } = ledgerOn(store);
    const b = budget(100);
    const r = await ledger.reserve([b], { base: { tokens: 90 } });
    await server.kill();
    expect(await r.commit({ tokens: 90 })).toBe(true); // not lost: queued
    await server.start();
    await written(ledger);
    // Long after the reservation would have lapsed, the 90 are still there: 10 left, not 100.
    skew = 20 * MINUTE;
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 90, reserved: 0 });
    await expect(ledger.reserve([b], { base: { tokens: 11 } })).rejects.toThrow(
      BudgetExceededError,
    );
    await ledger.reserve([b], { base: { tokens: 10 } });
  });

  it('while a commit waits for Redis, its reservation keeps holding the capacity in Redis', async () => {
    const store = await startRedis(true);
    const { ledger } = ledgerOn(store);
    const other = ledgerOn(await connect()).ledger; // another replica, still reaching Redis
    const b = budget(100);
    const r = await ledger.reserve([b], { base: { tokens: 90 } });
    // This replica loses Redis (a partition): its scripts time out.
    const sendCommand = client.sendCommand.bind(client);
    let partitioned = true;
    const spy = vi
      .spyOn(client, 'sendCommand')
      .mockImplementation((command) =>
        partitioned && command.name === 'evalsha'
          ? new Promise(() => undefined)
          : sendCommand(command),
      );
    await r.commit({ tokens: 90 });
    expect(ledger.pendingSettlements).toBe(1);
    // The other replica sees the 90 held, and cannot spend them.
    expect((await other.usage([b]))[0]).toMatchObject({ used: 0, reserved: 90 });
    await expect(other.reserve([b], { base: { tokens: 11 } })).rejects.toThrow(BudgetExceededError);
    partitioned = false;
    await written(ledger);
    spy.mockRestore();
    expect((await other.usage([b]))[0]).toMatchObject({ used: 90, reserved: 0 });
  });

  it('without persistence, a restart loses every ledger, but a commit that was never sent is still written', async () => {
    const store = await startRedis(false);
    const { ledger } = ledgerOn(store);
    const b = budget(100);
    await ledger.charge([b], { tokens: 5 });
    const r = await ledger.reserve([b], { base: { tokens: 90 } });
    await server.kill();
    await r.commit({ tokens: 60 });
    await server.start();
    await written(ledger);
    // The 5 written before the restart are gone with the rest of Redis; the 60 waiting were not.
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 60, reserved: 0 });
  });

  it('with persistence, a restart keeps usage, held reservations and thresholds already fired', async () => {
    const store = await startRedis(true);
    const { ledger, events } = ledgerOn(store);
    const b = budget(100);
    await ledger.charge([b], { tokens: 85 });
    await ledger.reserve([b], { base: { tokens: 10 } });
    await restart();
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 85, reserved: 10 });
    await ledger.charge([b], { tokens: 1 });
    // 0.8 fired before the restart and is not fired again; 0.9 is still to come.
    expect(events.filter((e) => e.type === 'threshold').map((e) => e.used)).toEqual([85]);
  });

  it('a commit whose reply was lost (the script ran, the client saw an error) is retried and counted once', async () => {
    const store = await startRedis(false);
    const { ledger, events } = ledgerOn(store);
    const b = budget(1_000);
    const r = await ledger.reserve([b], { base: { tokens: 300 } });
    await ledger.charge([budget()], { tokens: 1 }); // loads the commit script on this new server
    events.length = 0;
    const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
    let lose = 1;
    const spy = vi.spyOn(client, 'evalsha').mockImplementation((async (...args: unknown[]) => {
      const reply = await evalsha(...args);
      if (lose-- > 0) throw new Error('Connection is closed.');
      return reply;
    }) as never);
    await r.commit({ tokens: 250 });
    expect(ledger.pendingSettlements).toBe(1);
    await written(ledger);
    spy.mockRestore();
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 250, reserved: 0 });
    expect(
      events.filter((e) => e.type === 'usage').map((e) => e.type === 'usage' && e.used),
    ).toEqual([250]);
  });

  it('a release that fails is retried, so the capacity comes back before the reservation would lapse', async () => {
    const store = await startRedis(true);
    const { ledger } = ledgerOn(store);
    const b = budget(100);
    const r = await ledger.reserve([b], { base: { tokens: 80 } });
    await server.kill();
    await r.release();
    await server.start();
    await written(ledger);
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 0, reserved: 0 });
    await ledger.reserve([b], { base: { tokens: 100 } });
  });

  it('fail-open: usage counted in the process during an outage is written to Redis once it is back', async () => {
    const store = await startRedis(true);
    const { ledger } = ledgerOn(store, { onStoreError: 'fail-open' });
    const b = budget(100);
    await ledger.charge([b], { tokens: 20 });
    await server.kill();
    // During the outage calls run on the process's own count.
    const r = await ledger.reserve([b], { base: { tokens: 60 } });
    await r.commit({ tokens: 60 });
    await ledger.charge([b], { tokens: 5 });
    await server.start();
    await written(ledger);
    expect((await store.snapshot([b], clock()))[0]).toEqual({
      used: { tokens: 85 },
      reserved: {},
    });
    // Back on Redis, the budget sees all of it: 15 left.
    await expect(ledger.reserve([b], { base: { tokens: 16 } })).rejects.toThrow(
      BudgetExceededError,
    );
  });

  it('fail-open: thresholds reached during an outage fire once, from Redis, at the usage Redis holds', async () => {
    const store = await startRedis(true);
    const { ledger, events } = ledgerOn(store, { onStoreError: 'fail-open' });
    const b = defineBudget({ scope: 'session', key: `s${++n}`, limit: 100, policy: 'notify' });
    await ledger.charge([b], { tokens: 50 });
    await server.kill();
    // Counted in the process (from 0): 90 there, 140 in fact.
    for (let i = 0; i < 3; i++) {
      const r = await ledger.reserve([b], { base: { tokens: 30 } });
      await r.commit({ tokens: 30 });
    }
    await server.start();
    await written(ledger);
    const crossings = events
      .filter((e) => e.type === 'threshold' || e.type === 'exhausted')
      .map((e) => `${e.type === 'threshold' ? e.threshold : 'x'}@${e.used}`);
    expect(crossings).toEqual(['0.8@80', '0.9@110', 'x@110']);
    expect(events.filter((e) => e.type === 'usage')).toHaveLength(4);
    expect((await store.snapshot([b], clock()))[0]).toEqual({
      used: { tokens: 140 },
      reserved: {},
    });
  });

  it('a process that dies with commits unwritten loses them; its reservations lapse at their expiry', async () => {
    const store = await startRedis(true);
    const crashedStore = await connect();
    const { ledger: crashed } = ledgerOn(crashedStore, { closeTimeout: 1 });
    const b = budget(100);
    const done = await crashed.reserve([b], { base: { tokens: 30 } });
    await done.commit({ tokens: 30 });
    const r = await crashed.reserve([b], { base: { tokens: 50 } });
    await server.kill();
    await r.commit({ tokens: 50 });
    expect(crashed.pendingSettlements).toBe(1);
    // The process dies here: its connection and its queue of unwritten commits go with it.
    (crashedStore.client as Redis).disconnect();
    await server.start();
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5_000, interval: 20 });
    const { ledger: replica } = ledgerOn(store);
    expect((await replica.usage([b]))[0]).toMatchObject({ used: 30, reserved: 50 });
    skew = 15 * MINUTE + 1;
    expect((await replica.usage([b]))[0]).toMatchObject({ used: 30, reserved: 0 });
    expect(crashed.pendingSettlements).toBe(1);
  });

  it('close() of a store that made its own client resolves with Redis down, whatever the connection was doing', async () => {
    await startRedis(false);
    const owned = new RedisLedgerStore({
      url: `redis://127.0.0.1:${server.port}`,
      commandTimeout: 300,
    });
    const { ledger } = ledgerOn(owned, { closeTimeout: '300ms' });
    const b = budget(100);
    const r = await ledger.reserve([b], { base: { tokens: 40 } });
    await server.kill();
    // The commit is sent, times out, and is queued: the client is reconnecting when close() runs.
    await r.commit({ tokens: 7 });
    await vi.waitFor(() => expect((owned.client as Redis).status).toBe('reconnecting'), {
      timeout: 5_000,
      interval: 20,
    });
    ledgers.splice(ledgers.indexOf(ledger), 1);
    const started = Date.now();
    await ledger.close();
    expect(Date.now() - started).toBeLessThan(300 + 300 + 1_000);
    // The client it made is cut, not left reconnecting in the background: Redis back on the same
    // port, it stays unconnected.
    await server.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((owned.client as Redis).status).not.toBe('ready');
  });

  it('close() with Redis still down reports exactly what it could not write', async () => {
    const store = await startRedis(false);
    const { ledger, events } = ledgerOn(store, { closeTimeout: '300ms' });
    const b = budget(100);
    const r = await ledger.reserve([b], { base: { tokens: 40 } });
    await server.kill();
    await r.commit({ tokens: 33 });
    ledgers.splice(ledgers.indexOf(ledger), 1);
    await ledger.close();
    const report = events.filter((e): e is StoreErrorEvent => e.type === 'store-error').at(-1);
    expect(report?.unwritten).toEqual([
      {
        kind: 'commit',
        reservationId: r.id,
        budgets: [{ scope: 'session', key: b.key }],
        amounts: { tokens: 33 },
      },
    ]);
  });
});
