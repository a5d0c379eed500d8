import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { ForecastEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { describeLedgerOperationsContract } from '../contract/ledger-operations.contract.js';
import { redisAvailable, redisSuite } from './support/redis-env.js';

const available = await redisAvailable('the ledger operations contract on Redis');

describe.skipIf(!available)('Ledger operations on real Redis', () => {
  const { prefix, client } = redisSuite('operations');

  describeLedgerOperationsContract('RedisLedgerStore', async () => {
    const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
    return { store, close: () => store.close() };
  });
});

describe.skipIf(!available)('forecasts across replicas', () => {
  const { prefix, client } = redisSuite('forecast-replicas');

  it('fire once in all for a budget two replicas spend, whichever commits', async () => {
    const T0 = Date.UTC(2026, 2, 2);
    let now = T0;
    const replicas = [0, 1].map(() => {
      const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
      const ledger = new Ledger({ store, clock: () => now });
      const forecasts: ForecastEvent[] = [];
      ledger.events$.subscribe((e) => e.type === 'forecast' && forecasts.push(e));
      return { ledger, forecasts };
    });
    const b = defineBudget({ scope: 'user', key: 'shared', limit: 1000, window: '1h' });
    // From the second round on (3 commits, a minute) both replicas project exhaustion before the
    // window ends on every commit, and each asks the store again once its minute of memo is over.
    for (let i = 0; i < 6; i++) {
      now = T0 + i * 60_000;
      await Promise.all(replicas.map((r) => r.ledger.charge([b], { tokens: 50 })));
    }
    // A claim is one or two more round trips after a commit (two on NOSCRIPT): three reads on the
    // same connection, one after another, are answered after it.
    for (let i = 0; i < 3; i++) await replicas[0].ledger.usage([b]);
    const all = replicas.flatMap((r) => r.forecasts);
    expect(all).toHaveLength(1);
    // The second round: the first commit sees 150 tokens, the second 200; either may claim first.
    expect(all[0]).toMatchObject({
      scope: 'user',
      key: 'shared',
      at: T0 + 60_000,
      windowEnd: T0 + 3_600_000,
    });
    expect([150, 200]).toContain(all[0].used);
    for (const r of replicas) await r.ledger.close();
  });
});
