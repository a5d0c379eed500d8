import { describe } from 'vitest';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { describeLedgerStoreContract } from '../contract/ledger-store.contract.js';
import { redisAvailable, redisSuite } from './support/redis-env.js';

const available = await redisAvailable('the RedisLedgerStore contract');

describe.skipIf(!available)('RedisLedgerStore against real Redis', () => {
  const { prefix, client } = redisSuite('contract');

  describeLedgerStoreContract('RedisLedgerStore', async () => {
    // A generous timeout: the 1,000-caller case queues 1,000 scripts at once on one connection,
    // while other suites load the same Redis; timeouts have their own tests (redis-outage.spec.ts).
    const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
    // The client is the test's: closing the store must leave it open for the next case.
    return { store, close: () => store.close() };
  });

  describeLedgerStoreContract('RedisLedgerStore (single-slot hash tag)', async () => {
    const store = new RedisLedgerStore({
      client,
      prefix: `${prefix}ss:`,
      hashTag: 'single-slot',
      commandTimeout: 10_000,
    });
    return { store, close: () => store.close() };
  });
});
