import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defineBudget,
  Ledger,
  type LedgerStore,
  MemoryLedgerStore,
} from '../../lib/engine/index.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// Issue 11 item 9, the ledger rule behind it, on both stores: a degrade budget refuses on
// committed usage (calls in flight do not refuse others while nothing is spent), and its
// maxReservation caps what one call holds.

const available = await redisAvailable('the degrade reservation tests');
const stores: [string, boolean][] = [
  ['memory', true],
  ['redis', available],
];

describe.each(stores)('degrade reservations (%s)', (name, run) => {
  const prefix = uniquePrefix('degrade');
  let client: Redis | undefined;
  let n = 0;
  const store = (): LedgerStore =>
    name === 'redis'
      ? new RedisLedgerStore({ client: client!, prefix })
      : new MemoryLedgerStore({ sweepInterval: false });
  const uncapped = { min: 1, max: Infinity, ifUnbounded: 4_096 };

  beforeAll(() => {
    if (name === 'redis' && run) client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    if (client) {
      await deleteByPrefix(client, prefix);
      await client.quit();
    }
  });

  it.skipIf(!run)(
    'a call in flight holding 4,096 output tokens does not refuse the next',
    async () => {
      const ledger = new Ledger({ store: store() });
      const b = defineBudget({ scope: 's', key: `k${++n}`, limit: 4_000, policy: 'degrade' });
      const first = await ledger.reserve([b], { base: { tokens: 10 }, units: uncapped });
      expect(first.units).toBe(4_096);
      const second = await ledger.reserve([b], { base: { tokens: 10 }, units: uncapped });
      expect(second.units).toBe(4_096);
      await first.commit({ tokens: 30 });
      await second.commit({ tokens: 30 });
      expect((await ledger.usage([b]))[0]).toMatchObject({ used: 60, reserved: 0 });
    },
  );

  it.skipIf(!run)('refuses once committed usage reaches the limit', async () => {
    const ledger = new Ledger({ store: store() });
    const b = defineBudget({ scope: 's', key: `k${++n}`, limit: 100, policy: 'degrade' });
    await ledger.charge([b], { tokens: 100 });
    await expect(ledger.reserve([b], { base: { tokens: 1 } })).rejects.toMatchObject({
      name: 'BudgetExceededError',
      policy: 'degrade',
    });
  });

  it.skipIf(!run)('maxReservation caps the output a degrade call holds', async () => {
    const ledger = new Ledger({ store: store() });
    const b = defineBudget({
      scope: 's',
      key: `k${++n}`,
      limit: 100_000,
      policy: 'degrade',
      maxReservation: 500,
    });
    const r = await ledger.reserve([b], { base: { tokens: 10 }, units: uncapped });
    expect(r.units).toBe(500);
    expect((await ledger.usage([b]))[0]).toMatchObject({ used: 0, reserved: 510 });
    const capped = await ledger.reserve([b], {
      base: { tokens: 10 },
      units: { min: 1, max: 200, ifUnbounded: 4_096 },
    });
    expect(capped.units).toBe(200);
  });
});
