import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import type {
  LedgerStore,
  ReserveInput,
  ReserveOutcome,
} from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { StoreUnavailableError } from '../../lib/errors.js';
import { RedisLedgerStore, RedisStoreError } from '../../lib/redis/index.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// A reserve whose reply was lost may still have run and hold capacity: the Ledger queues a release
// of its id in the settlement retry queue, so the capacity comes back (not only when the
// reservation lapses, 15 minutes later). Run on both stores, each behind a connection that loses
// the reply of its next reserve after the store ran it.

/** A store whose next reserve runs, then fails as a lost reply does (`mayHaveApplied`). */
class LostReplyStore implements LedgerStore {
  loseNext: boolean | 'unapplied' = false;
  constructor(readonly inner: LedgerStore) {}
  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    if (this.loseNext === 'unapplied') {
      this.loseNext = false;
      throw new RedisStoreError('unavailable', 'refused before it ran', { mayHaveApplied: false });
    }
    const outcome = await this.inner.reserve(input);
    if (this.loseNext) {
      this.loseNext = false;
      throw new RedisStoreError('timeout', 'the reply was lost', { mayHaveApplied: true });
    }
    return outcome;
  }
  commit = (...args: Parameters<LedgerStore['commit']>) => this.inner.commit(...args);
  release = (...args: Parameters<LedgerStore['release']>) => this.inner.release(...args);
  snapshot = (...args: Parameters<LedgerStore['snapshot']>) => this.inner.snapshot(...args);
}

const useRedis = await redisAvailable('lost reserve reply');
let client: Redis | undefined;
const prefix = uniquePrefix('lostreserve');
beforeAll(() => {
  if (useRedis) client = new Redis(REDIS_URL);
});
afterAll(async () => {
  if (client) {
    await deleteByPrefix(client, prefix);
    client.disconnect();
  }
});

const stores: [string, () => LedgerStore][] = [
  ['memory', () => new MemoryLedgerStore({ sweepInterval: false })],
];
if (useRedis) stores.push(['redis', () => new RedisLedgerStore({ client: client!, prefix })]);

let n = 0;
describe.each(stores)('a reserve whose reply was lost (%s store)', (_, makeStore) => {
  it.each(['fail-closed', 'fail-open'] as const)(
    '%s: the reservation it may have made is released through the retry queue',
    async (onStoreError) => {
      const store = new LostReplyStore(makeStore());
      const ledger = new Ledger({ store, onStoreError, logger: { warn: () => undefined } });
      const b = defineBudget({ scope: 'session', key: `lost-${++n}`, limit: 100 });
      store.loseNext = true;
      const attempt = ledger.reserve([b], { base: { tokens: 90 } });
      if (onStoreError === 'fail-closed') {
        await expect(attempt).rejects.toBeInstanceOf(StoreUnavailableError);
      } else {
        // Served by the process-local fallback meanwhile, and released there.
        await (await attempt).release();
      }
      expect(ledger.pendingSettlements).toBe(1);
      // The retry queue writes the release once the store answers: the 90 tokens are free again.
      await vi.waitFor(async () => {
        const [snapshot] = await store.inner.snapshot([b], Date.now());
        expect(snapshot.reserved.tokens ?? 0).toBe(0);
      });
      expect(ledger.pendingSettlements).toBe(0);
      const again = await ledger.reserve([b], { base: { tokens: 90 } });
      await again.commit({ tokens: 90 });
      const [after] = await store.inner.snapshot([b], Date.now());
      expect(after.used.tokens).toBe(90);
      await ledger.close();
    },
  );

  it('a reserve that certainly never ran queues nothing', async () => {
    const store = new LostReplyStore(makeStore());
    const ledger = new Ledger({ store, logger: { warn: () => undefined } });
    const b = defineBudget({ scope: 'session', key: `lost-${++n}`, limit: 100 });
    store.loseNext = 'unapplied';
    await expect(ledger.reserve([b], { base: { tokens: 90 } })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(ledger.pendingSettlements).toBe(0);
    await ledger.close();
  });
});
