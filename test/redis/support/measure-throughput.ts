// Reserve+commit throughput and latency, MemoryLedgerStore vs RedisLedgerStore, through a Ledger.
// Run: node --import ./test/redis/support/register.mjs test/redis/support/measure-throughput.ts
// (REDIS_URL to pick the server; the numbers in docs/redis.md come from this script.)
import { Redis } from 'ioredis';
import { defineBudget } from '../../../lib/core/budget.js';
import { Ledger } from '../../../lib/core/ledger.js';
import type { LedgerStore } from '../../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { RedisLedgerStore } from '../../../lib/redis/index.js';
import { deleteByPrefix, uniquePrefix } from './redis-env.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CALLS = Number(process.env.CALLS ?? 20_000);

async function measure(name: string, store: LedgerStore, concurrency: number): Promise<void> {
  const ledger = new Ledger({ store });
  ledger.events$.subscribe(() => undefined); // events are built, as in an app that listens
  const run = Math.random().toString(36).slice(2);
  const global = defineBudget({ scope: 'global', key: run, limit: 1e12 });
  let next = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < CALLS) {
        const i = next++;
        const session = defineBudget({
          scope: 'session',
          key: `${run}-${i % 1000}`,
          limit: 1e9,
          ttl: '10m',
        });
        const t = performance.now();
        const r = await ledger.reserve([global, session], {
          base: { tokens: 20 },
          units: { min: 1, max: 200, ifUnbounded: 0 },
        });
        await r.commit({ tokens: 120 });
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.floor(q * (latencies.length - 1))].toFixed(3);
  console.log(
    `${name.padEnd(6)} concurrency ${String(concurrency).padStart(3)}: ${Math.round(CALLS / seconds)
      .toString()
      .padStart(7)} reserve+commit/s, ` + `latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`,
  );
}

const client = new Redis(url);
const prefix = uniquePrefix('measure');
for (const concurrency of [1, 16, 256]) {
  await measure('memory', new MemoryLedgerStore({ sweepInterval: false }), concurrency);
  await measure(
    'redis',
    new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 }),
    concurrency,
  );
}
await deleteByPrefix(client, prefix);
await client.quit();
