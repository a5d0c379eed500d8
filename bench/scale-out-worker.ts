// One of the four replicas of the scale-out bench (bench/scale-out.ts): `callers` parallel callers
// doing reserve+commit on three budgets (session, user, global) for `ms`, on a Redis Cluster with
// either today's layout (every ledger in one slot) or tenant tags plus a leased global budget.
import { Cluster } from 'ioredis';
import { type Budget, defineBudget, Ledger } from '../lib/core/index.js';
import { RedisLedgerStore } from '../lib/redis/index.js';
import { ACTUAL, REQUEST } from './engine.js';

export interface ScaleWorkerConfig {
  ports: number[];
  prefix: string;
  layout: 'single-slot' | 'tenant+lease' | 'tenant+lease-user';
  callers: number;
  ms: number;
  worker: number;
}

const config = JSON.parse(process.argv[2]) as ScaleWorkerConfig;
const client = new Cluster(config.ports.map((port) => ({ host: '127.0.0.1', port })));
const store =
  config.layout === 'single-slot'
    ? new RedisLedgerStore({
        client,
        prefix: config.prefix,
        hashTag: 'single-slot',
        commandTimeout: 10_000,
      })
    : new RedisLedgerStore({
        client,
        prefix: config.prefix,
        hashTag: (b) => (b.scope === 'global' ? undefined : `t:${b.key.split('/')[0]}`),
        lease: {
          budgets: (b) =>
            b.scope === 'global' || (config.layout === 'tenant+lease-user' && b.scope === 'user'),
        },
        commandTimeout: 10_000,
      });
const ledger = new Ledger({ store });
const global = defineBudget({ scope: 'global', key: 'all', limit: 1e14 });
const budgetsOf = (caller: number): Budget[] => {
  const tenant = `${(caller * 7 + config.worker) % 64}`;
  return [
    global,
    defineBudget({ scope: 'user', key: `${tenant}/u${caller % 4}`, limit: 1e13, window: '1d' }),
    defineBudget({
      scope: 'session',
      key: `${tenant}/s${caller}-${config.worker}`,
      limit: 1e12,
      window: '1h',
    }),
  ];
};
const budgets = Array.from({ length: config.callers }, (_, i) => budgetsOf(i));
await client.ping();
process.send?.({ type: 'ready' });
process.once('message', async () => {
  let calls = 0;
  const start = performance.now();
  const until = start + config.ms;
  await Promise.all(
    budgets.map(async (b) => {
      while (performance.now() < until) {
        const r = await ledger.reserve(b, REQUEST);
        await r.commit(ACTUAL);
        calls++;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  // Returns the leases (their settlement is part of what the layout costs Redis).
  await ledger.close();
  process.send?.({ type: 'done', calls, elapsedMs }, () => {
    client.disconnect();
    process.exit(0);
  });
});
