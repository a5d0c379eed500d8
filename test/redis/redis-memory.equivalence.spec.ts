import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Amounts,
  type Budget,
  type BudgetDefinition,
  MAX_AMOUNT,
  defineBudget,
} from '../../lib/core/budget.js';
import type { LedgerStore, ReserveInput } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// The Lua scripts re-implement lib/core/ledger-rules.ts; the contract suite checks chosen cases,
// this checks random ones: every operation on random budgets must give the memory store's answer.
// Budgets often share a ledger (same scope and window, other limits), amounts reach and pass
// MAX_AMOUNT (totals saturate), and commits use every ifUnknown mode.

const available = await redisAvailable('the Redis/memory equivalence check');
const T0 = 1_700_006_400_000;

type Op =
  | {
      kind: 'reserve';
      pick: number[];
      base: Amounts;
      perUnit?: Amounts;
      units?: ReserveInput['units'];
      lifetime: number;
    }
  | {
      kind: 'commit';
      which: number;
      pick: number[];
      actual: Amounts;
      ifUnknown?: 'charge' | 'skip' | 'charge-once';
      reservedAgo?: number;
      /** Candidate sibling declarations: those sharing a ledger with a picked budget are passed. */
      siblings?: number[];
    }
  | { kind: 'release'; which: number; pick: number[] }
  | { kind: 'snapshot'; pick: number[] }
  | { kind: 'inspect'; pick: number[] }
  | { kind: 'credit'; budget: number; amounts: Amounts }
  | { kind: 'reset'; budget: number }
  | { kind: 'claim'; budget: number; marker: string }
  | { kind: 'advance'; ms: number };

const budgetDef = fc.record({
  // Two scopes and three windows for four budgets: many share a ledger.
  scope: fc.constantFrom('s0', 's1'),
  policy: fc.constantFrom('hard-stop', 'degrade', 'notify', 'hard-stop') as fc.Arbitrary<
    BudgetDefinition['policy']
  >,
  limit: fc.oneof(
    fc.integer({ min: 20, max: 2_000 }),
    fc.constant(MAX_AMOUNT),
    fc
      .record(
        {
          tokens: fc.integer({ min: 20, max: 2_000 }),
          usd: fc.constantFrom(0.0005, 0.001, 0.01),
          requests: fc.integer({ min: 1, max: 6 }),
        },
        { requiredKeys: [] },
      )
      .filter((l) => Object.keys(l).length > 0),
  ),
  thresholds: fc.subarray([0.5, 0.8, 0.9, 1]),
  maxReservation: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
  window: fc.option(fc.constantFrom('1m', '10s', 'day') as fc.Arbitrary<'1m' | '10s' | 'day'>, {
    nil: undefined,
  }),
  ttl: fc.option(fc.constantFrom('30s', '5s') as fc.Arbitrary<'30s' | '5s'>, { nil: undefined }),
});

const pick = fc
  .uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 })
  .map((a) => a.sort());
// Mostly small; sometimes at or past the bound (a store used directly skips the Ledger's check).
const huge = fc.constantFrom(MAX_AMOUNT, MAX_AMOUNT - 1, 4e14, 1e300, Number.MAX_VALUE);
const amounts = (max: number) =>
  fc.record(
    {
      tokens: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max }) }, huge),
      usd: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 400 }) }, huge),
      requests: fc.constantFrom(0, 1),
    },
    { requiredKeys: ['tokens'] },
  );
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('reserve' as const),
    pick,
    base: amounts(300),
    perUnit: fc.option(
      fc.constantFrom<Amounts>(
        { tokens: 1 },
        { tokens: 1, usd: 0.6 },
        { usd: 2.5 },
        { tokens: 2, requests: 0 },
      ),
      { nil: undefined },
    ),
    units: fc.option(
      fc.record({
        min: fc.integer({ min: 0, max: 5 }),
        max: fc.oneof(fc.integer({ min: 5, max: 500 }), fc.constant(Infinity)),
        ifUnbounded: fc.integer({ min: 0, max: 300 }),
      }),
      { nil: undefined },
    ),
    lifetime: fc.constantFrom(1_000, 20_000, 120_000),
  }),
  fc.record(
    {
      kind: fc.constant('commit' as const),
      which: fc.nat(),
      pick,
      actual: amounts(400),
      ifUnknown: fc.constantFrom('charge' as const, 'skip' as const, 'charge-once' as const),
      reservedAgo: fc.constantFrom(0, 5_000, 60_000),
      siblings: fc.subarray([0, 1, 2, 3]),
    },
    { requiredKeys: ['kind', 'which', 'pick', 'actual'] },
  ),
  fc.record({ kind: fc.constant('release' as const), which: fc.nat(), pick }),
  fc.record({ kind: fc.constant('snapshot' as const), pick }),
  fc.record({ kind: fc.constant('inspect' as const), pick }),
  fc.record({
    kind: fc.constant('credit' as const),
    budget: fc.integer({ min: 0, max: 3 }),
    amounts: fc.record(
      {
        tokens: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 500 }) }, huge),
        usd: fc.integer({ min: 1, max: 400 }),
        requests: fc.integer({ min: 1, max: 3 }),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({ kind: fc.constant('reset' as const), budget: fc.integer({ min: 0, max: 3 }) }),
  fc.record({
    kind: fc.constant('claim' as const),
    budget: fc.integer({ min: 0, max: 3 }),
    marker: fc.constantFrom('tokens:20@f', 'usd:1000@f', 'other@f'),
  }),
  fc.record({
    kind: fc.constant('advance' as const),
    ms: fc.constantFrom(1, 999, 4_000, 9_999, 31_000),
  }),
);

describe.skipIf(!available)('RedisLedgerStore matches MemoryLedgerStore', () => {
  const prefix = uniquePrefix('equiv');
  let client: Redis;
  let run = 0;

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    await client.quit();
  });

  it('gives the same outcome for every operation of random sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(budgetDef, { minLength: 4, maxLength: 4 }),
        fc.array(op, { minLength: 5, maxLength: 40 }),
        async (defs, ops) => {
          run++;
          const budgets: Budget[] = defs.map((d) =>
            defineBudget({
              key: `run${run}`,
              ...d,
              ...(d.window === 'day' && { timeZone: 'Europe/Berlin' }),
            }),
          );
          const memory = new MemoryLedgerStore({ sweepInterval: false });
          const redis = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
          let now = T0;
          const ids: string[] = [];
          const both = async <T>(fn: (store: LedgerStore) => T | Promise<T>) => {
            const [m, r] = [await fn(memory), await fn(redis)];
            expect(r).toEqual(m);
          };
          for (const o of ops) {
            const chosen = 'pick' in o ? o.pick.map((i) => budgets[i]) : [];
            if (o.kind === 'advance') now += o.ms;
            else if (o.kind === 'snapshot') await both((s) => s.snapshot(chosen, now));
            else if (o.kind === 'inspect') await both((s) => s.inspect!(chosen, now));
            else if (o.kind === 'credit') {
              const budget = budgets[o.budget];
              await both((s) => s.credit!({ budget, amounts: o.amounts, now }));
            } else if (o.kind === 'reset') {
              const budget = budgets[o.budget];
              await both((s) => s.reset!({ budget, now }));
            } else if (o.kind === 'claim') {
              const budget = budgets[o.budget];
              await both((s) => s.claim!({ budget, marker: o.marker, now }));
            } else if (o.kind === 'reserve') {
              const reservationId = `r${ids.length}`;
              ids.push(reservationId);
              const input = {
                reservationId,
                budgets: chosen,
                base: o.base,
                perUnit: o.perUnit,
                units: o.units,
                now,
                expiresAt: now + o.lifetime,
              };
              await both((s) => s.reserve(input));
            } else if (o.kind === 'commit') {
              const reservationId = ids.length ? ids[o.which % ids.length] : 'none';
              const reservedAt = o.reservedAgo === undefined ? undefined : now - o.reservedAgo;
              // Other declarations of a charged ledger (same scope and window, the key is shared).
              const ledgerOf = (i: number) => `${defs[i].scope}|${defs[i].window ?? ''}`;
              const charged = new Set(o.pick.map(ledgerOf));
              const siblings = (o.siblings ?? [])
                .filter((i) => !o.pick.includes(i) && charged.has(ledgerOf(i)))
                .map((i) => budgets[i]);
              await both((s) =>
                s.commit({
                  reservationId,
                  budgets: chosen,
                  actual: o.actual,
                  now,
                  ifUnknown: o.ifUnknown,
                  reservedAt,
                  ...(siblings.length > 0 && { siblings }),
                }),
              );
            } else {
              const reservationId = ids.length ? ids[o.which % ids.length] : 'none';
              await both((s) => s.release({ reservationId, budgets: chosen, now }));
            }
          }
          await both((s) => s.snapshot(budgets, now));
          await both((s) => s.inspect!(budgets, now));
          await memory.close();
        },
      ),
      { numRuns: Number(process.env.TOKENCAP_EQUIVALENCE_RUNS ?? 200) },
    );
  }, 120_000);
});
