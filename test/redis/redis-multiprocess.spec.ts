import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import type { WorkerConfig, WorkerReport } from './support/ledger-worker.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// Four separate Node processes share one session budget through Redis. Workers run the TypeScript
// sources through support/register.mjs (an SWC loader), so no build step is needed.

const available = await redisAvailable('the multi-process Redis test');
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
    const onExit = (code: number | null) => reject(new Error(`worker exited with ${code} before '${type}'`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

describe.skipIf(!available)('four processes sharing one budget through Redis', () => {
  const prefix = uniquePrefix('multiprocess');
  const channel = `tokencap-test:events:${randomUUID()}`;
  let client: Redis;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill();
    await deleteByPrefix(client, prefix);
    await client.quit();
  });

  it('never overshoots the limit and fires 0.8 and 0.9 once each across all four', async () => {
    const key = randomUUID();
    const published: string[] = [];
    const listener = client.duplicate();
    await listener.subscribe(channel);
    listener.on('message', (_channel: string, message: string) => {
      const { origin, event } = JSON.parse(message) as { origin: string; event: { type: string; threshold?: number } };
      published.push(`${event.type === 'threshold' ? `threshold@${event.threshold}` : event.type} from ${origin}`);
    });

    for (let worker = 0; worker < WORKERS; worker++) {
      const config: WorkerConfig = { redisUrl: REDIS_URL, prefix, channel, key, limit: LIMIT, calls: CALLS, worker };
      children.push(fork(workerPath, [JSON.stringify(config)], { execArgv: ['--import', registerPath], stdio: 'inherit' }));
    }
    await Promise.all(children.map((c) => next(c, 'ready')));
    const start = performance.now();
    const done = children.map((c) => next(c, 'done'));
    for (const child of children) child.send('go');
    const reports = (await Promise.all(done)).map((m) => m.report as WorkerReport);
    const wall = performance.now() - start;

    const session = defineBudget({ scope: 'session', key, limit: LIMIT });
    const [snapshot] = await new RedisLedgerStore({ client, prefix }).snapshot([session], Date.now());
    const committed = reports.reduce((sum, r) => sum + r.committed, 0);
    const granted = reports.reduce((sum, r) => sum + r.granted, 0);
    const refused = reports.reduce((sum, r) => sum + r.refused, 0);
    console.info(
      `[multiprocess] ${WORKERS}×${CALLS} parallel callers in ${wall.toFixed(0)} ms: ${granted} granted, ${refused} refused, ` +
        `${committed} of ${LIMIT} tokens used`,
    );

    expect(refused).toBe(WORKERS * CALLS); // every caller ended refused
    expect(granted).toBeGreaterThan(WORKERS * CALLS);
    expect(snapshot.used.tokens).toBe(committed);
    expect(committed).toBeLessThanOrEqual(LIMIT);
    expect(committed).toBeGreaterThan(LIMIT - 41); // full: no caller could fit another 21..40
    expect(snapshot.reserved).toEqual({});

    // Crossings happen once, on the replica whose commit crossed them, and reach all the others.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const seen = await Promise.all(children.map(async (c) => {
      const reply = next(c, 'seen');
      c.send('report');
      return ((await reply).seen as string[]).filter((s) => s.startsWith('threshold'));
    }));
    for (const s of seen) expect(s.sort()).toEqual(['threshold@0.8', 'threshold@0.9']);
    const thresholds = published.filter((p) => p.startsWith('threshold'));
    expect(thresholds.filter((p) => p.startsWith('threshold@0.8 '))).toHaveLength(1);
    expect(thresholds.filter((p) => p.startsWith('threshold@0.9 '))).toHaveLength(1);

    await Promise.all(children.map((c) => new Promise((resolve) => { c.once('exit', resolve); c.send('stop'); })));
    await listener.quit();
  }, 60_000);
});
