import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { StoreUnavailableError } from '../../lib/errors.js';
import { RedisLedgerStore, RedisStoreError } from '../../lib/redis/index.js';
import { RedisServerProcess, freePort, redisServerBinaryAvailable } from './support/redis-env.js';

// These tests start, kill, freeze and restart their own redis-server, so they never disturb the
// shared one. They need the redis-server binary (REDIS_SERVER_BIN to point at another).
const binary = await redisServerBinaryAvailable();
if (!binary) {
  const reason = 'the redis-server binary is not available (set REDIS_SERVER_BIN)';
  if (process.env.CI === 'true')
    throw new Error(`Redis outage tests: ${reason}; CI=true requires it.`);
  console.warn(`Skipping the Redis outage tests: ${reason}.`);
}

const TIMEOUT = 500;
const SLACK = 300; // timer and scheduling slack on a busy CI machine

async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ ms: number; result?: T; error?: unknown }> {
  const start = performance.now();
  try {
    const result = await fn();
    return { ms: performance.now() - start, result };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}

describe.skipIf(!binary)('RedisLedgerStore when Redis fails', () => {
  let server: RedisServerProcess;
  let client: Redis;
  let store: RedisLedgerStore;
  let n = 0;
  const budget = () => defineBudget({ scope: 'session', key: `outage${++n}`, limit: 1_000_000 });

  beforeEach(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    // A user's client: reconnects quickly, otherwise default options (offline queue on, resend on).
    client = new Redis({
      host: '127.0.0.1',
      port: server.port,
      retryStrategy: (times) => Math.min(times * 50, 300),
    });
    client.on('error', () => undefined);
    store = new RedisLedgerStore({ client, commandTimeout: TIMEOUT });
  });
  afterEach(async () => {
    server.resume();
    await server.kill();
    client.disconnect();
  });

  it('fails closed promptly after Redis dies, fails open with one store-error, and recovers on restart', async () => {
    const session = budget();
    const closedWarn = vi.fn();
    const openWarn = vi.fn();
    const closed = new Ledger({ store, onStoreError: 'fail-closed', logger: { warn: closedWarn } });
    const open = new Ledger({ store, onStoreError: 'fail-open', logger: { warn: openWarn } });
    const openEvents: TokencapEvent[] = [];
    open.events$.subscribe((e) => openEvents.push(e));

    const call = async (ledger: Ledger) => {
      const r = await ledger.reserve([session], { base: { tokens: 10 } });
      await r.commit({ tokens: 10 });
    };
    for (let i = 0; i < 10; i++) await call(closed);
    expect((await store.snapshot([session], Date.now()))[0].used).toEqual({ tokens: 100 });

    // Calls in flight when Redis dies, then calls during the outage: none may hang past the timeout.
    const inFlight = Array.from({ length: 20 }, () => timed(() => call(closed)));
    await server.kill();
    const during = [];
    for (let i = 0; i < 20; i++) during.push(await timed(() => call(closed)));
    const settled = await Promise.all(inFlight);
    const slowest = Math.max(...[...settled, ...during].map((t) => t.ms));
    console.info(
      `[outage] fail-closed: slowest call after kill ${slowest.toFixed(1)} ms; median during outage ${median(during.map((t) => t.ms)).toFixed(2)} ms`,
    );
    expect(slowest).toBeLessThan(TIMEOUT + SLACK);
    for (const t of during) {
      expect(t.error).toBeInstanceOf(StoreUnavailableError);
      expect((t.error as StoreUnavailableError).cause).toBeInstanceOf(RedisStoreError);
    }
    expect(closedWarn).toHaveBeenCalledOnce();

    const openCalls = [];
    for (let i = 0; i < 20; i++) openCalls.push(await timed(() => call(open)));
    expect(openCalls.every((t) => t.error === undefined)).toBe(true);
    expect(Math.max(...openCalls.map((t) => t.ms))).toBeLessThan(TIMEOUT + SLACK);
    expect(openEvents.filter((e) => e.type === 'store-error')).toEqual([
      expect.objectContaining({ type: 'store-error', mode: 'fail-open' }),
    ]);
    expect(openWarn).toHaveBeenCalledOnce();
    expect((await open.usage([session]))[0].used).toBe(200); // counted in this process meanwhile

    // Commits that did not reach Redis wait in each ledger: those of calls in flight when it died,
    // and the fail-open calls counted in this process.
    const queued = closed.pendingSettlements;
    expect(open.pendingSettlements).toBe(20);

    // Same port, empty server (no persistence): the store reconnects, reloads its scripts, both
    // ledgers write what was waiting, and go back to Redis. What Redis held before is gone.
    await server.start();
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5_000, interval: 20 });
    await vi.waitFor(() => expect(closed.pendingSettlements + open.pendingSettlements).toBe(0), {
      timeout: 10_000,
      interval: 20,
    });
    await call(closed);
    const held = await open.reserve([session], { base: { tokens: 7 } });
    // What waited is commits of 10 tokens, plus a release for each reserve (in flight or during the
    // outage) whose reply was lost (it may have applied): those add nothing, so between queued − lost and queued
    // commits were replayed, never more, never a partial one.
    const lostReserves = [...settled, ...during].filter((t) => t.error !== undefined).length;
    const after = (await store.snapshot([session], Date.now()))[0];
    expect(after.reserved).toEqual({ tokens: 7 });
    const replayedCommits = ((after.used.tokens ?? 0) - 200 - 10) / 10;
    expect(Number.isInteger(replayedCommits)).toBe(true);
    expect(replayedCommits).toBeLessThanOrEqual(queued);
    expect(replayedCommits).toBeGreaterThanOrEqual(queued - lostReserves);
    const replayed = 10 * replayedCommits + 200;
    await held.commit({ tokens: 7 });
    expect((await store.snapshot([session], Date.now()))[0].used).toEqual({
      tokens: replayed + 17,
    });
    expect(openEvents.filter((e) => e.type === 'store-error')).toHaveLength(1);
    await closed.close();
    await open.close();
  });

  it('times out on a hung Redis within commandTimeout, and the late commands change nothing when it wakes', async () => {
    const session = budget();
    await store.commit({
      reservationId: 'warm',
      budgets: [session],
      actual: { tokens: 1 },
      now: Date.now(),
    });
    server.pause();
    const now = Date.now();
    const reserve = await timed(() =>
      store.reserve({
        reservationId: 'late-r',
        budgets: [session],
        base: { tokens: 50 },
        now,
        expiresAt: now + 600_000,
      }),
    );
    const commit = await timed(() =>
      store.commit({ reservationId: 'late-c', budgets: [session], actual: { tokens: 30 }, now }),
    );
    console.info(
      `[outage] hung Redis: reserve failed after ${reserve.ms.toFixed(1)} ms, commit after ${commit.ms.toFixed(1)} ms`,
    );
    for (const t of [reserve, commit]) {
      expect(t.error).toMatchObject({ reason: 'timeout' });
      expect(t.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
      expect(t.ms).toBeLessThan(TIMEOUT + SLACK);
    }
    await new Promise((r) => setTimeout(r, 100));
    server.resume();
    // Both commands reach Redis now, past their deadline: neither holds nor charges anything.
    expect((await store.snapshot([session], Date.now()))[0]).toEqual({
      used: { tokens: 1 },
      reserved: {},
    });
  });

  it('drops commands resent after a restart instead of applying them late', async () => {
    const session = budget();
    await store.commit({
      reservationId: 'warm',
      budgets: [session],
      actual: { tokens: 1 },
      now: Date.now(),
    });
    await server.kill();
    // ioredis status is briefly 'connecting' between retries: such a call is queued, times out, and
    // is sent once Redis is back. Keep calling until one was queued rather than refused at once.
    const queued: Promise<unknown>[] = [];
    const deadline = Date.now() + 3_000;
    while (queued.length < 3 && Date.now() < deadline) {
      if (client.status === 'connecting' || client.status === 'connect') {
        const now = Date.now();
        queued.push(
          store
            .reserve({
              reservationId: `q${queued.length}`,
              budgets: [session],
              base: { tokens: 40 },
              now,
              expiresAt: now + 600_000,
            })
            .catch((e: unknown) => e),
        );
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(queued.length).toBeGreaterThan(0);
    const outcomes = await Promise.all(queued);
    expect(outcomes.every((o) => o instanceof RedisStoreError)).toBe(true);
    // Restart with the old data gone, then commit once more so the warm ledger exists again.
    await server.start();
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5_000, interval: 20 });
    await new Promise((r) => setTimeout(r, 100));
    expect((await store.snapshot([session], Date.now()))[0]).toEqual({ used: {}, reserved: {} });
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
