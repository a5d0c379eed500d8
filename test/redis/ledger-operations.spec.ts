import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { describeLedgerOperationsContract } from '../contract/ledger-operations.contract.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

const available = await redisAvailable('the ledger operations contract on Redis');

describe.skipIf(!available)('Ledger operations on real Redis', () => {
  const prefix = uniquePrefix('operations');
  let client: Redis;

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    await client.quit();
  });

  describeLedgerOperationsContract('RedisLedgerStore', async () => {
    const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
    return { store, close: () => store.close() };
  });
});
