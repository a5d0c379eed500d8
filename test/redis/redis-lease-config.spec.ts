import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../lib/core/budget.js';
import type { TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { TokencapConfigError } from '../../lib/errors.js';
import { RedisConfigError, RedisLedgerStore } from '../../lib/redis/index.js';

// Lease configuration mistakes are TokencapConfigErrors naming the bad value; none of these
// reaches Redis (the client never connects).
const client = new Redis({ lazyConnect: true });

describe('lease configuration', () => {
  afterAll(() => client.disconnect());

  for (const [option, value, shown] of [
    ['ttl', Number.NaN, 'NaN'],
    ['ttl', Number.POSITIVE_INFINITY, 'Infinity'],
    ['horizon', Number.NEGATIVE_INFINITY, '-Infinity'],
    ['idle', Number.NaN, 'NaN'],
  ] as const) {
    it(`lease.${option} = ${shown} is refused, naming the value`, () => {
      const build = () =>
        new RedisLedgerStore({ client, lease: { budgets: () => true, [option]: value } });
      expect(build).toThrow(TokencapConfigError);
      expect(build).toThrow(`Invalid lease.${option} of RedisLedgerStore: ${shown}. Expected`);
    });
  }
});

describe('unknown options', () => {
  it('an unknown lease option is refused, naming it', () => {
    const build = () =>
      new RedisLedgerStore({
        client,
        lease: { budgets: () => true, horizn: '5s' } as never,
      });
    expect(build).toThrow(TokencapConfigError);
    expect(build).toThrow(
      'Unknown lease option "horizn" of RedisLedgerStore: expected budgets, ttl, horizon or idle.',
    );
  });

  it('an unknown store option is refused, naming it', () => {
    const build = () => new RedisLedgerStore({ client, keyPrefix: 'x:' } as never);
    expect(build).toThrow(TokencapConfigError);
    expect(build).toThrow('Unknown option "keyPrefix" of RedisLedgerStore: expected client, url,');
  });
});

describe('configuration errors are never store outages', () => {
  /** A fail-open Ledger on `store`, with what it warned and published. */
  const failOpen = (store: RedisLedgerStore) => {
    const warnings: string[] = [];
    const events: TokencapEvent[] = [];
    const ledger = new Ledger({
      store,
      onStoreError: 'fail-open',
      logger: { warn: (m) => warnings.push(m) },
    });
    ledger.events$.subscribe((e) => events.push(e));
    return { ledger, warnings, events };
  };

  /** Reserve, charge and usage each refused with `expected`; nothing counted, queued or warned. */
  const expectRefused = async (
    store: RedisLedgerStore,
    budgets: Budget[],
    expected: Record<string, unknown>,
  ) => {
    const { ledger, warnings, events } = failOpen(store);
    for (const attempt of [
      () => ledger.reserve(budgets, { base: { tokens: 100 } }),
      () => ledger.charge(budgets, { tokens: 100 }),
      () => ledger.usage(budgets),
    ]) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TokencapConfigError);
      expect(error).toBeInstanceOf(RedisConfigError);
      expect(error).toMatchObject(expected);
    }
    expect(ledger.pendingSettlements).toBe(0);
    await ledger.close();
    expect(warnings).toEqual([]);
    expect(events.filter((e) => e.type === 'store-error' || e.type === 'usage')).toEqual([]);
  };

  it('a leased degrade budget is a TokencapConfigError naming it, under fail-open too', async () => {
    const store = new RedisLedgerStore({
      client,
      lease: { budgets: (b) => b.scope === 'global' },
    });
    const global = defineBudget({
      scope: 'global',
      key: 'all',
      limit: 1_000,
      policy: 'degrade',
      fallbackModel: 'gpt-4o-mini',
    });
    await expectRefused(store, [global], {
      reason: 'invalid-input',
      mayHaveApplied: false,
      message: expect.stringContaining(
        "Budget global:all is leased (the store's lease.budgets chose it) but has policy 'degrade'",
      ),
    });
  });

  for (const [option, build] of [
    [
      'hashTag',
      () =>
        new RedisLedgerStore({
          client,
          hashTag: () => {
            throw new Error('no tenant on this budget');
          },
        }),
    ],
    [
      'lease.budgets',
      () =>
        new RedisLedgerStore({
          client,
          lease: {
            budgets: () => {
              throw new Error('no tenant on this budget');
            },
          },
        }),
    ],
  ] as const) {
    it(`a ${option} function that throws is a TokencapConfigError naming it, under fail-open too`, async () => {
      const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000 });
      await expectRefused(build(), [global], {
        reason: 'invalid-input',
        mayHaveApplied: false,
        message: `RedisLedgerStore's ${option} function threw for budget global:all: no tenant on this budget`,
      });
    });
  }

  it('budgets spanning hash slots are a TokencapConfigError naming each, under fail-open too', async () => {
    const store = new RedisLedgerStore({
      client,
      hashTag: (b) => (b.scope === 'tenant' ? b.key : undefined),
    });
    const tenant = defineBudget({ scope: 'tenant', key: 't1', limit: 1_000 });
    const user = defineBudget({ scope: 'user', key: 'u1', limit: 1_000 });
    await expectRefused(store, [tenant, user], {
      reason: 'cross-slot',
      mayHaveApplied: false,
      message: expect.stringMatching(
        new RegExp(
          `tenant:t1 → ${store.keysOf(tenant).ledger} \\(slot \\d+\\), user:u1 → ${store.keysOf(user).ledger} \\(slot \\d+\\)`,
        ),
      ),
    });
  });
});

describe('a leased ledger is named by one declaration', () => {
  const store = () =>
    new RedisLedgerStore({
      client,
      lease: { budgets: (b) => b.scope === 'global' && (b.limits.tokens ?? 0) >= 10_000 },
    });
  const big = defineBudget({ scope: 'global', key: 'all', limit: 10_000 });
  const small = defineBudget({ scope: 'global', key: 'all', limit: 5_000 });

  it('a call naming a leased and a non-leased declaration of one ledger is refused, naming both', async () => {
    const ledger = new Ledger({ store: store(), logger: { warn: () => undefined } });
    const error = await ledger.reserve([big, small], { base: { tokens: 100 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisConfigError);
    expect((error as Error).message).toContain(
      'Budgets global:all (limits {"tokens":10000}, policy hard-stop, leased) and ' +
        'global:all (limits {"tokens":5000}, policy hard-stop, also declared) share one ledger',
    );
    expect(ledger.pendingSettlements).toBe(0);
    await ledger.close();
  });

  it('two leased declarations of one ledger with other limits are refused', async () => {
    const leasedAll = new RedisLedgerStore({ client, lease: { budgets: () => true } });
    const ledger = new Ledger({ store: leasedAll, logger: { warn: () => undefined } });
    await expect(ledger.usage([big, small])).rejects.toThrow(
      /Budgets global:all \(limits \{"tokens":10000\}.*\) and global:all \(limits \{"tokens":5000\}/,
    );
    await ledger.close();
  });
});
