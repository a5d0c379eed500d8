import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import { StoreUnavailableError } from '../../lib/errors.js';
import { RedisLedgerStore, RedisStoreError } from '../../lib/redis/index.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

const available = await redisAvailable('the Redis script tests');
const T0 = 1_700_006_400_000;

describe.skipIf(!available)('RedisLedgerStore scripts', () => {
  const prefix = uniquePrefix('scripts');
  let client: Redis;
  let n = 0;
  const budget = (limit = 1_000) => defineBudget({ scope: 'session', key: `k${++n}`, limit });

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    await client.quit();
  });

  it('sends one command per phase: reserve, commit, release and snapshot are one EVALSHA each', async () => {
    const store = new RedisLedgerStore({ client, prefix });
    const budgets = [budget(), budget(), budget()];
    await store.snapshot(budgets, T0); // loads the scripts if this server has not seen them
    await store.reserve({
      reservationId: 'warm',
      budgets,
      base: { tokens: 1 },
      now: T0,
      expiresAt: T0 + 1,
    });
    await store.commit({ reservationId: 'warm', budgets, actual: { tokens: 1 }, now: T0 });
    await store.release({ reservationId: 'warm', budgets, now: T0 });
    const sent = vi.spyOn(client, 'sendCommand');
    try {
      const count = async (fn: () => Promise<unknown>) => {
        sent.mockClear();
        await fn();
        return sent.mock.calls.map(([command]) => command.name);
      };
      expect(
        await count(() =>
          store.reserve({
            reservationId: 'a',
            budgets,
            base: { tokens: 10 },
            now: T0,
            expiresAt: T0 + 60_000,
          }),
        ),
      ).toEqual(['evalsha']);
      expect(
        await count(() =>
          store.commit({ reservationId: 'a', budgets, actual: { tokens: 8 }, now: T0 }),
        ),
      ).toEqual(['evalsha']);
      expect(await count(() => store.release({ reservationId: 'a', budgets, now: T0 }))).toEqual([
        'evalsha',
      ]);
      expect(await count(() => store.snapshot(budgets, T0))).toEqual(['evalsha']);
    } finally {
      sent.mockRestore();
    }
  });

  it('falls back to EVAL once after SCRIPT FLUSH, then runs EVALSHA again', async () => {
    const store = new RedisLedgerStore({ client, prefix });
    const b = budget(100);
    await store.reserve({
      reservationId: 'before',
      budgets: [b],
      base: { tokens: 10 },
      now: T0,
      expiresAt: T0 + 60_000,
    });
    await client.script('FLUSH');
    const sent = vi.spyOn(client, 'sendCommand');
    try {
      const r = await store.reserve({
        reservationId: 'after',
        budgets: [b],
        base: { tokens: 20 },
        now: T0,
        expiresAt: T0 + 60_000,
      });
      expect(r).toMatchObject({ ok: true, snapshots: [{ used: {}, reserved: { tokens: 30 } }] });
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(['evalsha', 'eval']);
      sent.mockClear();
      const c = await store.commit({
        reservationId: 'after',
        budgets: [b],
        actual: { tokens: 5 },
        now: T0,
      });
      expect(c.snapshots).toEqual([{ used: { tokens: 5 }, reserved: { tokens: 10 } }]);
      // The commit script had not been loaded either; the reserve script is now cached.
      expect(sent.mock.calls.map(([x]) => x.name)).toEqual(['evalsha', 'eval']);
      sent.mockClear();
      await store.reserve({
        reservationId: 'again',
        budgets: [b],
        base: { tokens: 1 },
        now: T0,
        expiresAt: T0 + 60_000,
      });
      expect(sent.mock.calls.map(([x]) => x.name)).toEqual(['evalsha']);
    } finally {
      sent.mockRestore();
    }
  });

  it('rejects replies that are not what the script returns, rather than reading them as zero', async () => {
    const b = budget();
    const cases: unknown[] = [
      null,
      'OK',
      0,
      [],
      ['ok'],
      ['ok', 'not-a-time', '0', ['0', '0', '0', '0', '0', '0']],
      ['ok', '1700000000000', '', ['0', '0', '0', '0', '0', '0']],
      ['ok', '1700000000000', '5', ['0', '0', '0', '0', '0']],
      ['ok', '1700000000000', '5', ['0', '0', 'NaN', '0', '0', '0']],
      // Integers come as integer replies; a fraction can only come as a string.
      ['ok', '1700000000000', '5', [0.5, 0, 0, 0, 0, 0]],
      ['ok', '1700000000000', '5', [2 ** 60, 0, 0, 0, 0, 0]],
      ['no', '1700000000000', 3, 0, '5', '0', '0', '0', '0', '0', '0'],
      ['no', '1700000000000', 0, 7, '5', '0', '0', '0', '0', '0', '0'],
      ['maybe', '1700000000000'],
    ];
    for (const reply of cases) {
      const fake = {
        status: 'ready',
        isCluster: false,
        evalsha: vi.fn(async () => reply),
        eval: vi.fn(),
      };
      const store = new RedisLedgerStore({ client: fake as never, prefix });
      const error = await store
        .reserve({
          reservationId: 'x',
          budgets: [b],
          base: { tokens: 1 },
          now: T0,
          expiresAt: T0 + 1,
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error, JSON.stringify(reply)).toBeInstanceOf(RedisStoreError);
      expect((error as RedisStoreError).reason).toBe('malformed-reply');
    }
    const commitFake = {
      status: 'ready',
      isCluster: false,
      evalsha: vi.fn(async () => [
        'ok',
        '1700000000000',
        1,
        ['0', '0', '0', '0', '0', '0'],
        [0, 0, 9],
      ]),
    };
    const store = new RedisLedgerStore({ client: commitFake as never, prefix });
    await expect(
      store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 1 }, now: T0 }),
    ).rejects.toMatchObject({
      reason: 'malformed-reply',
      message: expect.stringContaining('Malformed reply from Redis commit script'),
    });
  });

  it('surfaces a malformed reply through the Ledger as a store error, not as an empty budget', async () => {
    const fake = {
      status: 'ready',
      isCluster: false,
      evalsha: vi.fn(async () => ['ok', '1', '0', []]),
    };
    const warn = vi.fn();
    const ledger = new Ledger({
      store: new RedisLedgerStore({ client: fake as never, prefix }),
      clock: () => T0,
      logger: { warn },
    });
    const events: string[] = [];
    ledger.events$.subscribe((e) => events.push(e.type));
    await expect(ledger.reserve([budget()], { base: { tokens: 1 } })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(events).toEqual(['store-error']);
    expect(warn).toHaveBeenCalledOnce();
  });

  it('rejects a value it cannot encode instead of sending NaN to Redis', async () => {
    const store = new RedisLedgerStore({ client, prefix });
    await expect(
      store.reserve({
        reservationId: 'nan',
        budgets: [budget()],
        base: { tokens: Number.NaN },
        now: T0,
        expiresAt: T0 + 1,
      }),
    ).rejects.toMatchObject({ reason: 'invalid-input' });
  });
});
