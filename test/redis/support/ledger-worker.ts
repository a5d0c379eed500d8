// One replica of the multi-process test: a Ledger on a RedisLedgerStore (with the event relay),
// running `calls` parallel callers (each reserving and committing until refused) on one shared
// budget when the parent says go.
// Run by test/redis/redis-multiprocess.spec.ts through support/register.mjs.
import { Redis } from 'ioredis';
import { defineBudget } from '../../../lib/core/budget.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { RedisEventRelay, RedisLedgerStore } from '../../../lib/redis/index.js';

export interface WorkerConfig {
  redisUrl: string;
  prefix: string;
  channel: string;
  key: string;
  limit: number;
  calls: number;
  worker: number;
}

export interface WorkerReport {
  worker: number;
  granted: number;
  refused: number;
  committed: number;
  /** Threshold and exhaustion events seen on this replica's events$ (its own and relayed). */
  seen: string[];
  elapsedMs: number;
}

const config = JSON.parse(process.argv[2]) as WorkerConfig;
const send = (message: unknown) => process.send?.(message);

const client = new Redis(config.redisUrl);
const store = new RedisLedgerStore({ client, prefix: config.prefix, commandTimeout: 5_000 });
const ledger = new Ledger({ store });
const relay = new RedisEventRelay({ publisher: client, channel: config.channel });
const seen: string[] = [];
ledger.events$.subscribe((e: TokencapEvent) => {
  if (e.type === 'threshold') seen.push(`threshold@${e.threshold}`);
  if (e.type === 'exhausted') seen.push('exhausted');
});
await relay.attach(ledger);
const session = defineBudget({ scope: 'session', key: config.key, limit: config.limit });

process.on('message', async (message: unknown) => {
  if (message === 'go') {
    const start = performance.now();
    let granted = 0;
    let refused = 0;
    let committed = 0;
    // `calls` parallel callers, each calling until refused, so the budget ends up full from every side.
    await Promise.all(
      Array.from({ length: config.calls }, async (_, i) => {
        for (let call = 0; ; call++) {
          try {
            // 20 prompt tokens and up to 20 output tokens: reserves 21 to 40, commits no more.
            const r = await ledger.reserve([session], { base: { tokens: 20 }, units: { min: 1, max: 20, ifUnbounded: 0 } });
            granted++;
            const actual = 20 + Math.min(r.units, 1 + ((i * 7 + call + config.worker) % 20));
            await r.commit({ tokens: actual });
            committed += actual;
          } catch (error) {
            if (!(error instanceof BudgetExceededError)) throw error;
            refused++;
            return;
          }
        }
      }),
    );
    const report: WorkerReport = { worker: config.worker, granted, refused, committed, seen, elapsedMs: performance.now() - start };
    send({ type: 'done', report });
  } else if (message === 'report') {
    send({ type: 'seen', seen });
  } else if (message === 'stop') {
    await relay.close();
    await ledger.close();
    await client.quit();
    process.exit(0);
  }
});
send({ type: 'ready' });
