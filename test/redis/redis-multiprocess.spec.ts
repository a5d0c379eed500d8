import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { LedgerSnapshot } from '../../lib/core/ledger-store.interface.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing/index.js';
import type { WorkerConfig, WorkerReport } from './support/ledger-worker.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// Four separate Node processes share one session budget through Redis, 250 parallel callers each,
// every caller calling until refused. Workers run the TypeScript sources through
// support/register.mjs (an SWC loader), so no build step is needed.

const available = await redisAvailable('the multi-process Redis tests');
const WORKERS = 4;
const CALLS = 250;
const LIMIT = 50_000; // about 1,650 calls of ~30 tokens fill it

const workerPath = fileURLToPath(new URL('./support/ledger-worker.ts', import.meta.url));
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

interface RunResult {
  reports: WorkerReport[];
  snapshot: LedgerSnapshot;
  /** Threshold events seen on each replica's events$. */
  seen: string[][];
  /** Threshold and exhaustion messages on the relay channel, as `type@threshold from origin`. */
  published: string[];
  committed: number;
  wallMs: number;
}

describe.skipIf(!available)('four processes sharing one budget through Redis', () => {
  const prefix = uniquePrefix('multiprocess');
  let client: Redis;
  let children: ChildProcess[] = [];

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterEach(() => {
    for (const child of children) if (child.exitCode === null) child.kill();
    children = [];
  });
  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    await client.quit();
  });

  async function runFour(mode: WorkerConfig['mode'], baseURL?: string): Promise<RunResult> {
    const key = randomUUID();
    const channel = `tokencap-test:events:${randomUUID()}`;
    const published: string[] = [];
    const listener = client.duplicate();
    await listener.subscribe(channel);
    listener.on('message', (_channel: string, message: string) => {
      const { origin, event } = JSON.parse(message) as {
        origin: string;
        event: { type: string; threshold?: number };
      };
      published.push(
        `${event.type === 'threshold' ? `threshold@${event.threshold}` : event.type} from ${origin}`,
      );
    });

    for (let worker = 0; worker < WORKERS; worker++) {
      const config: WorkerConfig = {
        redisUrl: REDIS_URL,
        prefix,
        channel,
        key,
        limit: LIMIT,
        calls: CALLS,
        worker,
        mode,
        baseURL,
      };
      children.push(
        fork(workerPath, [JSON.stringify(config)], {
          execArgv: ['--import', registerPath],
          stdio: 'inherit',
        }),
      );
    }
    await Promise.all(children.map((c) => next(c, 'ready')));
    const start = performance.now();
    const done = children.map((c) => next(c, 'done'));
    for (const child of children) child.send('go');
    const reports = (await Promise.all(done)).map((m) => m.report as WorkerReport);
    const wallMs = performance.now() - start;

    const session = defineBudget({ scope: 'session', key, limit: LIMIT });
    const [snapshot] = await new RedisLedgerStore({ client, prefix }).snapshot(
      [session],
      Date.now(),
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // relayed events in flight
    const seen = await Promise.all(
      children.map(async (c) => {
        const reply = next(c, 'seen');
        c.send('report');
        return ((await reply).seen as string[]).filter((s) => s.startsWith('threshold')).sort();
      }),
    );
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            c.once('exit', resolve);
            c.send('stop');
          }),
      ),
    );
    await listener.quit();
    const committed = reports.reduce((sum, r) => sum + r.committed, 0);
    const granted = reports.reduce((sum, r) => sum + r.granted, 0);
    console.info(
      `[multiprocess:${mode}] ${WORKERS}×${CALLS} parallel callers: ${granted} calls in ${wallMs.toFixed(0)} ms ` +
        `(${((granted / wallMs) * 1000).toFixed(0)} reserve+commit/s), ${committed} of ${LIMIT} tokens used`,
    );
    return { reports, snapshot, seen, published, committed, wallMs };
  }

  function expectThresholdsOnceAcrossAll(result: RunResult): void {
    // Each crossing fired once, on the replica whose commit crossed it, and reached all the others.
    for (const s of result.seen) expect(s).toEqual(['threshold@0.8', 'threshold@0.9']);
    expect(result.published.filter((p) => p.startsWith('threshold@0.8 '))).toHaveLength(1);
    expect(result.published.filter((p) => p.startsWith('threshold@0.9 '))).toHaveLength(1);
    expect(result.published.filter((p) => p.startsWith('exhausted ')).length).toBeLessThanOrEqual(
      1,
    );
  }

  it('direct Ledger calls: never overshoot, and 0.8 and 0.9 fire once each across all four', async () => {
    const result = await runFour('ledger');
    expect(result.reports.reduce((sum, r) => sum + r.refused, 0)).toBe(WORKERS * CALLS); // every caller ended refused
    expect(result.snapshot.used.tokens).toBe(result.committed);
    expect(result.committed).toBeLessThanOrEqual(LIMIT);
    expect(result.committed).toBeGreaterThan(LIMIT - 41); // full: no caller could fit another 21..40
    expect(result.snapshot.reserved).toEqual({});
    expectThresholdsOnceAcrossAll(result);
  }, 60_000);

  describe('wrapped OpenAI clients against the fake server', () => {
    let server: FakeOpenAIServer;
    beforeAll(async () => {
      server = await startFakeOpenAI();
    });
    afterAll(async () => {
      await server?.close();
    });

    it('bill no more than the limit, count exactly what was billed, and fire 0.8 and 0.9 once each', async () => {
      const result = await runFour('openai', server.baseURL);
      await server.settled();
      const billed = server.tally.totalTokens;
      console.info(
        `[multiprocess:openai] fake server billed ${billed} tokens over ${server.tally.requests} requests`,
      );
      expect(result.reports.reduce((sum, r) => sum + r.refused, 0)).toBe(WORKERS * CALLS);
      expect(billed).toBeLessThanOrEqual(LIMIT);
      expect(billed).toBeGreaterThan(LIMIT * 0.99);
      expect(result.snapshot.used.tokens).toBe(billed);
      expect(result.committed).toBe(billed);
      expect(result.snapshot.reserved).toEqual({});
      expectThresholdsOnceAcrossAll(result);
    }, 120_000);
  });
});
