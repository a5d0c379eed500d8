import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type Budget, defineBudget } from '../../lib/core/budget.js';
import type { TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { redisAvailable, redisSuite } from './support/redis-env.js';

// Leased budgets on one Redis: the leased budget is spent in memory (no script names it once a
// lease is held), replicas sharing it never overspend it and Redis ends with exactly what they
// committed, thresholds fire once across replicas, and usage outside any lease is still charged.
const available = await redisAvailable('the Redis lease tests');
const quiet = { warn: () => undefined };

describe.skipIf(!available)('RedisLedgerStore leases', () => {
  const { prefix, client } = redisSuite('lease');

  const leasedStore = (p: string) =>
    new RedisLedgerStore({
      client,
      prefix: p,
      lease: { budgets: (b) => b.scope === 'global', idle: '10m' },
    });

  it('spends a leased budget in memory: after the first lease, no script names it', async () => {
    const p = `${prefix}mem:`;
    const store = leasedStore(p);
    const ledger = new Ledger({ store, logger: quiet });
    const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000_000 });
    const session = defineBudget({ scope: 'session', key: 's1', limit: 100_000 });
    const globalKey = store.keysOf(global).ledger;
    const sent = vi.spyOn(client, 'evalsha');
    const touching = () =>
      sent.mock.calls.filter((args) => (args as unknown[]).includes(globalKey)).length;
    const first = await ledger.reserve([global, session], { base: { tokens: 30 } });
    await first.commit({ tokens: 25 });
    // The first lease is the call's own; the next, sized by what Redis showed free, is prefetched,
    // and the first is returned (with its 25) as soon as the next arrives.
    await vi.waitFor(async () => expect(await client.hget(globalKey, 'u1')).toBe(String(25)));
    const afterFirst = touching();
    expect(afterFirst).toBe(3);
    for (let i = 0; i < 20; i++) {
      const r = await ledger.reserve([global, session], { base: { tokens: 30 } });
      await r.commit({ tokens: 25 });
    }
    expect(touching()).toBe(afterFirst);
    // Every call still sent its session budget: reserve and commit, one script each.
    expect(sent.mock.calls.length - touching()).toBe(2 * 21);
    sent.mockRestore();
    expect((await ledger.usage([global]))[0]).toMatchObject({ used: 21 * 25 });
    await ledger.close();
    // Returned: Redis holds the usage and nothing reserved.
    const check = new RedisLedgerStore({ client, prefix: p });
    expect(await check.snapshot([global], Date.now())).toEqual([
      { used: { tokens: 21 * 25 }, reserved: {} },
    ]);
  });

  it('a leased budget keeps operate semantics: credit raises its limit, reset clears what its leases spent', async () => {
    const p = `${prefix}ops:`;
    const store = leasedStore(p);
    const ledger = new Ledger({ store, logger: quiet });
    const global = defineBudget({ scope: 'global', key: 'all', limit: 100 });
    const spend = async (tokens: number) => {
      const r = await ledger.reserve([global], { base: { tokens } });
      await r.commit({ tokens });
    };
    for (let i = 0; i < 10; i++) await spend(10);
    await expect(ledger.reserve([global], { base: { tokens: 1 } })).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect((await ledger.usage([global]))[0]).toMatchObject({ used: 100, limit: 100 });
    await ledger.credit(global, { tokens: 50 });
    for (let i = 0; i < 5; i++) await spend(10);
    await expect(ledger.reserve([global], { base: { tokens: 1 } })).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect((await ledger.usage([global]))[0]).toMatchObject({ used: 150, limit: 150 });
    const cleared = await ledger.reset(global);
    expect(cleared).toMatchObject({ used: 0 });
    await spend(30);
    await ledger.close();
    // Settled: Redis holds only what was spent after the reset, and the credit.
    const check = new RedisLedgerStore({ client, prefix: p });
    expect(await check.snapshot([global], Date.now())).toEqual([
      { used: { tokens: 30 }, reserved: {}, credit: { tokens: 50 } },
    ]);
  });

  it('replicas sharing a leased budget never overspend it, Redis ends with what they committed, thresholds fire once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 500, max: 5_000 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 60 })), {
          minLength: 1,
          maxLength: 12,
        }),
        async (replicas, limit, pattern) => {
          const p = `${prefix}rep-${Math.random().toString(36).slice(2)}:`;
          const global = defineBudget({ scope: 'global', key: 'all', limit });
          const ledgers = Array.from(
            { length: replicas },
            () => new Ledger({ store: leasedStore(p), logger: quiet }),
          );
          const fired: string[] = [];
          for (const ledger of ledgers) {
            ledger.events$.subscribe((e: TokencapEvent) => {
              if (e.type === 'threshold') fired.push(`${e.threshold}`);
              if (e.type === 'exhausted') fired.push('x');
            });
          }
          let committed = 0;
          // Each replica: 3 parallel callers cycling through the pattern until refused.
          await Promise.all(
            ledgers.flatMap((ledger, r) =>
              Array.from({ length: 3 }, async (_, c) => {
                for (let n = 0; ; n++) {
                  const [base, extra] = pattern[(n + r + c) % pattern.length];
                  let reservation;
                  try {
                    reservation = await ledger.reserve([global], {
                      base: { tokens: base },
                      units: { min: 0, max: extra, ifUnbounded: 0 },
                    });
                  } catch (error) {
                    if (error instanceof BudgetExceededError) return;
                    throw error;
                  }
                  // Never more than reserved: the budget can then never be overspent.
                  const actual = base + Math.min(extra, reservation.units);
                  committed += actual;
                  await reservation.commit({ tokens: actual });
                }
              }),
            ),
          );
          await Promise.all(ledgers.map((l) => l.close()));
          const [state] = await new RedisLedgerStore({ client, prefix: p }).snapshot(
            [global],
            Date.now(),
          );
          expect(committed).toBeLessThanOrEqual(limit);
          expect(state).toEqual({ used: committed > 0 ? { tokens: committed } : {}, reserved: {} });
          for (const t of ['0.8', '0.9']) {
            const reached = committed >= Math.ceil(Number(t) * limit - 1e-9);
            expect(fired.filter((f) => f === t)).toHaveLength(reached ? 1 : 0);
          }
          expect(fired.filter((f) => f === 'x').length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it('charges a commit whose lease was already returned', async () => {
    const p = `${prefix}late:`;
    const store = leasedStore(p);
    const ledger = new Ledger({ store, logger: quiet });
    const global = defineBudget({ scope: 'global', key: 'all', limit: 10_000 });
    const r = await ledger.reserve([global], { base: { tokens: 40 } });
    // Closing the store returns the lease while the call is in flight.
    await store.close();
    await r.commit({ tokens: 35 });
    const check = new RedisLedgerStore({ client, prefix: p });
    await vi.waitFor(async () =>
      expect(await check.snapshot([global], Date.now())).toEqual([
        { used: { tokens: 35 }, reserved: {} },
      ]),
    );
  });

  it('records a windowed lease in the window it was spent in', async () => {
    const p = `${prefix}win:`;
    const HOUR = 3_600_000;
    const T0 = Math.floor(Date.now() / HOUR) * HOUR + 1_000;
    let now = T0;
    const store = leasedStore(p);
    const ledger = new Ledger({ store, clock: () => now, logger: quiet });
    const global = defineBudget({ scope: 'global', key: 'all', limit: 100_000, window: '1h' });
    for (const actual of [30, 12]) {
      const r = await ledger.reserve([global], { base: { tokens: 40 } });
      await r.commit({ tokens: actual });
    }
    // The next window: the first lease retires, and its 42 tokens belong to the first hour.
    now = T0 + HOUR;
    const r = await ledger.reserve([global], { base: { tokens: 40 } });
    await r.commit({ tokens: 7 });
    await ledger.close();
    const check = new RedisLedgerStore({ client, prefix: p });
    // Redis keeps one ledger per budget and window: the second hour holds only its own 7.
    expect(await check.snapshot([global], T0 + HOUR)).toEqual([
      { used: { tokens: 7 }, reserved: {} },
    ]);
  });

  it('usage() right after the window rolls over reads the new window, here and on another replica', async () => {
    const p = `${prefix}roll:`;
    const HOUR = 3_600_000;
    const boundary = Math.ceil(Date.now() / HOUR) * HOUR;
    let now = boundary - 1_000;
    const ledgerOf = () => new Ledger({ store: leasedStore(p), clock: () => now, logger: quiet });
    const a = ledgerOf();
    const global = defineBudget({ scope: 'global', key: 'all', limit: 1_000, window: '1h' });
    for (let i = 0; i < 30; i++) {
      const r = await a.reserve([global], { base: { tokens: 10 } });
      await r.commit({ tokens: 10 });
    }
    now = boundary + 1_000;
    const [here] = await a.usage([global]);
    expect(here).toMatchObject({ used: 0, reserved: 0, windowEnd: boundary + HOUR });
    // The previous hour's leases were settled there, not left reserved in this one.
    const [other] = await ledgerOf().usage([global]);
    expect(other).toMatchObject({ used: 0, reserved: 0, windowEnd: boundary + HOUR });
    await a.close();
    const check = new RedisLedgerStore({ client, prefix: p });
    expect(await check.snapshot([global], boundary - 1)).toEqual([
      { used: { tokens: 300 }, reserved: {} },
    ]);
  });

  it('refuses to lease a degrade budget, naming it', async () => {
    const store = leasedStore(`${prefix}deg:`);
    const global: Budget = defineBudget({
      scope: 'global',
      key: 'all',
      limit: 100,
      policy: 'degrade',
      fallbackModel: 'gpt-4o-mini',
    });
    await expect(
      store.reserve({
        reservationId: 'r',
        budgets: [global],
        base: { tokens: 1 },
        now: Date.now(),
        expiresAt: Date.now() + 1_000,
      }),
    ).rejects.toMatchObject({
      reason: 'invalid-input',
      message: expect.stringContaining('Budget global:all is leased'),
    });
  });

  it("leaves out the siblings of a leased ledger: charged once, and the lease's commit fires no other declaration's thresholds", async () => {
    const p = `${prefix}siblings:`;
    // Of the ledger global/all, the 100,000-token declaration is leased, the 1,000 one is not.
    const store = new RedisLedgerStore({
      client,
      prefix: p,
      lease: { budgets: (b) => b.scope === 'global' && b.limits.tokens === 100_000, idle: '10m' },
    });
    const ledger = new Ledger({ store, logger: quiet });
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => e.type !== 'usage' && events.push(e));
    const small = defineBudget({ scope: 'global', key: 'all', limit: 1000 });
    const big = defineBudget({ scope: 'global', key: 'all', limit: 100_000 });
    const spend = async (b: Budget, tokens: number) => {
      const r = await ledger.reserve([b], { base: { tokens } });
      await r.commit({ tokens });
    };
    await spend(small, 100);
    // Spent in a lease: the small declaration is its sibling, left out of the lease's commit.
    await spend(big, 1100);
    expect(events).toEqual([]);
    await ledger.close();
    // Charged once: 100 directly, 1,100 when the lease was returned.
    const check = new RedisLedgerStore({ client, prefix: p });
    expect(await check.snapshot([small], Date.now())).toEqual([
      { used: { tokens: 1200 }, reserved: {} },
    ]);
    // The next direct commit through the small declaration fires what it reached.
    const later = new Ledger({ store: check, logger: quiet });
    later.events$.subscribe((e) => e.type !== 'usage' && events.push(e));
    await later.charge([small], { tokens: 0 });
    expect(events.map((e) => `${e.type} ${(e as { used?: number }).used}`)).toEqual([
      'threshold 1200',
      'threshold 1200',
      'exhausted 1200',
    ]);
    await later.close();
  });
});
