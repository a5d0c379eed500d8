import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing/index.js';
import type { LeaseWorkerConfig, LeaseWorkerReport } from './support/lease-worker.js';
import {
  RedisClusterProcesses,
  redisServerBinaryAvailable,
  uniquePrefix,
} from './support/redis-env.js';

// The proof of leases: a three-master loopback Cluster, four Node processes with parallel
// callers, each call budgeted on a leased global budget and its tenant's budgets (tenant hash
// tags). Nothing is overspent, Redis ends with exactly what the fake provider billed, thresholds
// fire once across the four, and a replica killed mid-run leaks no lease once its TTL has passed.
const binary = await redisServerBinaryAvailable();
if (!binary) {
  const reason = 'the redis-server binary is not available (set REDIS_SERVER_BIN)';
  if (process.env.CI === 'true')
    throw new Error(`Redis lease tests: ${reason}; CI=true requires it.`);
  console.warn(`Skipping the Redis lease tests: ${reason}.`);
}

const WORKERS = 4;
const CALLERS = 25;
const workerPath = fileURLToPath(new URL('./support/lease-worker.ts', import.meta.url));
const registerPath = fileURLToPath(new URL('./support/register.mjs', import.meta.url));

function next(child: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as Record<string, unknown>);
    };
    const onExit = (code: number | null) =>
      reject(new Error(`worker exited with ${code} before '${type}'`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

describe.skipIf(!binary)('leased global budget: four processes on a three-master Cluster', () => {
  const cluster = new RedisClusterProcesses(3);
  let client: Cluster;
  let server: FakeOpenAIServer;
  let children: ChildProcess[] = [];

  beforeAll(async () => {
    await cluster.start();
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    await client.ping();
  }, 60_000);
  afterEach(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    children = [];
    await server?.close();
  });
  afterAll(async () => {
    await client?.quit();
    await cluster.stop();
  });

  function start(prefix: string, globalLimit: number, perCaller: number, leaseTtlMs: number): void {
    for (let worker = 0; worker < WORKERS; worker++) {
      const config: LeaseWorkerConfig = {
        ports: cluster.ports,
        prefix,
        globalLimit,
        calls: CALLERS,
        perCaller,
        worker,
        baseURL: server.baseURL,
        leaseTtl: `${leaseTtlMs}ms` as const,
      };
      children.push(
        fork(workerPath, [JSON.stringify(config)], {
          execArgv: ['--import', registerPath],
          stdio: 'inherit',
        }),
      );
    }
  }

  async function stop(which: ChildProcess[]): Promise<LeaseWorkerReport[]> {
    return Promise.all(
      which.map(async (c) => {
        const stopped = next(c, 'stopped');
        c.send('stop');
        return (await stopped).report as LeaseWorkerReport;
      }),
    );
  }

  async function globalState(prefix: string, limit: number, now = Date.now()) {
    // The workers' layout: the global budget keeps its own tag.
    const store = new RedisLedgerStore({ client, prefix, hashTag: 'per-budget' });
    const global = defineBudget({ scope: 'global', key: 'all', limit });
    const [snapshot] = await store.snapshot([global], now);
    return snapshot;
  }

  it('every caller runs until refused: never overspent, Redis holds exactly what was billed, thresholds once', async () => {
    server = await startFakeOpenAI();
    const prefix = uniquePrefix('lease-full');
    const LIMIT = 40_000;
    start(prefix, LIMIT, 0, 30_000);
    await Promise.all(children.map((c) => next(c, 'ready')));
    const done = children.map((c) => next(c, 'done'));
    for (const c of children) c.send('go');
    await Promise.all(done);
    const reports = await stop(children);
    await server.settled();
    const billed = server.tally.totalTokens;
    const snapshot = await globalState(prefix, LIMIT);
    console.info(
      `[lease-cluster] ${reports.reduce((s, r) => s + r.granted, 0)} calls over ${server.tally.requests} requests, billed ${billed} of ${LIMIT}, committed ${reports.reduce((s, r) => s + r.committed, 0)}, Redis used ${snapshot.used.tokens}`,
    );
    expect(reports.reduce((s, r) => s + r.refused, 0)).toBe(WORKERS * CALLERS);
    expect(billed).toBeLessThanOrEqual(LIMIT);
    // Near the limit chunks shrink, so little is left stranded on a replica when callers stop.
    expect(billed).toBeGreaterThan(LIMIT * 0.95);
    expect(snapshot.used.tokens).toBe(billed);
    expect(reports.reduce((s, r) => s + r.committed, 0)).toBe(billed);
    expect(snapshot.reserved).toEqual({});
    const events = reports.flatMap((r) => r.events).sort();
    expect(events.filter((e) => e === 'threshold@0.8')).toHaveLength(1);
    expect(events.filter((e) => e === 'threshold@0.9')).toHaveLength(1);
    expect(events.filter((e) => e === 'exhausted').length).toBeLessThanOrEqual(1);
  }, 180_000);

  it('a replica SIGKILLed mid-run leaks no lease once its TTL has passed, and nothing is overspent', async () => {
    server = await startFakeOpenAI();
    const prefix = uniquePrefix('lease-kill');
    const LIMIT = 1_000_000;
    // A TTL longer than the survivors' run, so the victim's lease is still held when they stop.
    const ttl = 60_000;
    start(prefix, LIMIT, 10, ttl);
    await Promise.all(children.map((c) => next(c, 'ready')));
    const [victim, ...survivors] = children;
    const running = next(victim, 'running');
    const done = survivors.map((c) => next(c, 'done'));
    for (const c of children) c.send('go');
    await running;
    victim.kill('SIGKILL');
    await Promise.all(done);
    const reports = await stop(survivors);
    await server.settled();
    const billed = server.tally.totalTokens;
    const survivorsCommitted = reports.reduce((s, r) => s + r.committed, 0);
    // The survivors returned their leases; the victim's is still held.
    const now = await globalState(prefix, LIMIT);
    expect(now.reserved.tokens).toBeGreaterThan(0);
    // Past its TTL (the ledger clock is an input, so no sleeping) it has lapsed.
    const later = await globalState(prefix, LIMIT, Date.now() + ttl + 1);
    expect(later.reserved).toEqual({});
    // Survivors settled everything they spent; the victim's unsettled spending died with it.
    expect(later.used.tokens ?? 0).toBeGreaterThanOrEqual(survivorsCommitted);
    expect(later.used.tokens ?? 0).toBeLessThanOrEqual(billed);
    expect(billed).toBeLessThanOrEqual(LIMIT);
  }, 180_000);
});
