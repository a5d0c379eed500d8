import { describe } from 'vitest';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { describeReservationRenewalContract } from '../contract/reservation-renewal.contract.js';
import { redisAvailable, redisSuite } from './support/redis-env.js';

const available = await redisAvailable('reservation renewal on Redis');

describe.skipIf(!available)('reservation renewal on real Redis', () => {
  const { prefix, client } = redisSuite('renewal');

  describeReservationRenewalContract('RedisLedgerStore', async () => {
    const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
    return { store, close: () => store.close() };
  });

  describeReservationRenewalContract(
    'RedisLedgerStore with leased budgets',
    async () => {
      const store = new RedisLedgerStore({
        client,
        prefix: `${prefix}lease:`,
        commandTimeout: 10_000,
        lease: { budgets: (b) => b.scope === 'session' },
      });
      return { store, close: () => store.close() };
    },
    false,
  );
});
