import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Amounts,
  type Budget,
  type BudgetDefinition,
  DIMENSIONS,
  defineBudget,
} from '../../lib/core/budget.js';
import { windowBounds } from '../../lib/core/budget-window.js';
import type { TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import { thresholdAmount } from '../../lib/core/ledger-rules.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import type { Reservation } from '../../lib/core/reservation.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { redisAvailable, redisSuite } from '../redis/support/redis-env.js';

// Invariants of the Ledger under random interleavings of reserve, commit, release, clock advances
// (window roll-over, reservation expiry, ttl eviction) and sweeps, on nested budgets
// (global ⊃ user ⊃ session), against both stores. test/redis/redis-memory.equivalence.spec.ts
// checks that the stores agree with each other; this checks that what they agree on is right:
//
// 1. Under hard-stop, used + reserved never exceeds the limit, in any dimension, as long as each
//    commit is at most what its reservation holds. A commit that arrives after its reservation
//    lapsed (a call slower than reservationTtl) is usage without a reservation: the excess it may
//    cause is bounded by exactly what such late commits added in the current window.
// 2. No reservation outlives its call: once every call settles (or every reservation lapses),
//    reserved is 0 on every budget.
// 3. Every threshold (and exhaustion) fires at most once per budget, dimension and window (a
//    ledger evicted after its ttl starts a new one), and only once usage has reached it.
// 4. Used and reserved are never negative.
//
// Each session has a second declaration on the same ledger (same scope, key and window, half the
// limit, its own policy and thresholds), as a service's @Budget('session', 100) inside a
// controller's @Budget('session', 1000): calls naming both are held and charged once, and every
// invariant above holds for each declaration against its own limit.

const available = await redisAvailable('the ledger property tests on Redis');
const T0 = 1_700_006_400_000;
const RESERVATION_TTL = 5_000;
const RUNS = Number(process.env.TOKENCAP_PROPERTY_RUNS ?? 150);

type Op =
  | {
      kind: 'reserve';
      user: number;
      session: number;
      depth: number;
      /** Also name the inner declaration of the session (when the chain reaches the session). */
      inner: boolean;
      base: number;
      request: boolean;
      units?: { min: number; max: number; ifUnbounded: number };
    }
  | { kind: 'commit'; which: number; percent: number }
  | { kind: 'release'; which: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' };

const budgetDef = (policies: readonly BudgetDefinition['policy'][], min: number, max: number) =>
  fc.record({
    policy: fc.constantFrom(...policies),
    limit: fc.oneof(
      fc.integer({ min, max }),
      fc.record({ tokens: fc.integer({ min, max }), requests: fc.integer({ min: 1, max: 12 }) }),
    ),
    thresholds: fc.subarray([0.25, 0.5, 0.8, 0.9, 1]),
    maxReservation: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
    window: fc.option(fc.constantFrom(2_000, 10_000, 60_000), { nil: undefined }),
    ttl: fc.option(fc.constantFrom(1_000, 7_000), { nil: undefined }),
  });

const budgetDefs = fc.record({
  global: budgetDef(['hard-stop'], 300, 4_000),
  // Mostly hard-stop; a degrade or notify budget in the chain must not weaken the others.
  user: budgetDef(['hard-stop', 'hard-stop', 'degrade', 'notify'], 100, 2_000),
  session: budgetDef(['hard-stop', 'hard-stop', 'degrade', 'notify'], 50, 1_000),
  inner: fc.record({
    policy: fc.constantFrom<BudgetDefinition['policy']>('hard-stop', 'degrade', 'notify'),
    thresholds: fc.subarray([0.25, 0.5, 0.8, 0.9, 1]),
  }),
});

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        kind: fc.constant('reserve' as const),
        user: fc.integer({ min: 0, max: 1 }),
        session: fc.integer({ min: 0, max: 1 }),
        depth: fc.integer({ min: 1, max: 3 }),
        inner: fc.boolean(),
        base: fc.integer({ min: 0, max: 250 }),
        request: fc.boolean(),
        units: fc.record({
          min: fc.integer({ min: 0, max: 3 }),
          max: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constant(Infinity)),
          ifUnbounded: fc.integer({ min: 0, max: 300 }),
        }),
      },
      { requiredKeys: ['kind', 'user', 'session', 'depth', 'inner', 'base', 'request'] },
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      which: fc.nat(),
      percent: fc.integer({ min: 0, max: 100 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), which: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.constantFrom(1, 500, 999, 2_000, 4_999, 5_000, 7_000, 10_000, 61_000),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);

interface Held {
  reservation: Reservation;
  /** Indexes into the run's budget list. */
  budgets: number[];
  expiresAt: number;
  settled: boolean;
}

/** What the test knows of one budget's ledger: enough to tell which window an event belongs to. */
interface Tracked {
  exists: boolean;
  evictAt: number;
  windowStart: number | undefined;
  /** Bumped whenever the store starts the budget afresh (window roll-over or ttl eviction). */
  period: number;
  /** Usage committed after its reservation had lapsed, in this period. */
  late: Amounts;
}

interface StoreUnderTest {
  store: LedgerStore;
  sweep(now: number): void;
  close(): Promise<unknown>;
}

/** Totals over every run, for docs/reliability.md (printed with TOKENCAP_RELIABILITY_REPORT=1). */
const totals = { runs: 0, ops: 0, reserved: 0, refused: 0, late: 0, events: 0, overLimit: 0 };

async function checkRun(
  make: (clock: () => number) => StoreUnderTest,
  run: string,
  defs: Record<'global' | 'user' | 'session', Omit<BudgetDefinition, 'scope' | 'key'>> & {
    inner: Pick<BudgetDefinition, 'policy' | 'thresholds'>;
  },
  ops: readonly Op[],
  settleAtEnd: boolean,
): Promise<void> {
  let now = T0;
  const { store, sweep, close } = make(() => now);
  const ledger = new Ledger({ store, clock: () => now, reservationTtl: RESERVATION_TTL });
  const events: TokencapEvent[] = [];
  const subscription = ledger.events$.subscribe((e) => events.push(e));

  // budgets[0] global, [1..2] users, [3..6] sessions (user u, session s at 3 + 2u + s), [7..10]
  // the sessions' inner declarations (same ledgers, half the limit).
  const half = (limit: BudgetDefinition['limit']): BudgetDefinition['limit'] =>
    typeof limit === 'number'
      ? Math.max(1, Math.floor(limit / 2))
      : Object.fromEntries(
          Object.entries(limit).map(([d, v]) => [d, Math.max(1, Math.floor((v as number) / 2))]),
        );
  const sessionKey = (i: number) => `${run}-u${i >> 1}-s${i & 1}`;
  const budgets: Budget[] = [
    defineBudget({ ...defs.global, scope: 'global', key: `${run}` }),
    ...[0, 1].map((u) => defineBudget({ ...defs.user, scope: 'user', key: `${run}-u${u}` })),
    ...[0, 1, 2, 3].map((i) =>
      defineBudget({ ...defs.session, scope: 'session', key: sessionKey(i) }),
    ),
    ...[0, 1, 2, 3].map((i) =>
      defineBudget({
        ...defs.session,
        ...defs.inner,
        ...(defs.inner.policy === 'degrade' ? {} : { fallbackModel: undefined }),
        limit: half(defs.session.limit),
        scope: 'session',
        key: sessionKey(i),
      }),
    ),
  ];
  // A ledger's life (window, eviction) is the ledger's, so an inner declaration shares its
  // session's record; both have the session's window and ttl.
  const tracked: Tracked[] = budgets.slice(0, 7).map(() => ({
    exists: false,
    evictAt: Infinity,
    windowStart: undefined,
    period: 0,
    late: {},
  }));
  for (let i = 0; i < 4; i++) tracked.push(tracked[3 + i]);
  const held: Held[] = [];
  const fired = new Map<string, number>();

  // Which ledger a budget index charges: an inner declaration charges its session's.
  const ledgerOf = (index: number) => (index >= 7 ? index - 4 : index);
  const live = (index: number) =>
    held.some(
      (h) =>
        !h.settled && h.expiresAt > now && h.budgets.some((b) => ledgerOf(b) === ledgerOf(index)),
    );
  // Mirrors when a store drops a ledger (idle past evict-at, nothing in flight) or rolls its window.
  const access = (index: number, touch: boolean) => {
    const t = tracked[index];
    const budget = budgets[index];
    if (t.exists && t.evictAt <= now && !live(index)) {
      t.exists = false;
      t.period += 1;
      t.late = {};
    }
    if (!t.exists && !touch) return;
    t.exists = true;
    if (budget.window !== undefined) {
      const { start } = windowBounds(budget.window, now);
      // Windows only move forward (the clock here never goes back).
      if (t.windowStart !== start) {
        t.period += 1;
        t.late = {};
        t.windowStart = start;
      }
    }
    if (touch) {
      t.evictAt =
        budget.ttlMs !== undefined
          ? now + budget.ttlMs
          : budget.window !== undefined
            ? windowBounds(budget.window, t.windowStart as number).end
            : Infinity;
    }
  };

  // An inner declaration binds the calls that name it: usage from calls outside it (naming only
  // the session) may pass its limit. So it is checked right after a call naming it was granted.
  let namedInner: number[] = [];
  const check = async (where: string) => {
    const snapshots = await store.snapshot(budgets, now);
    budgets.forEach((budget, i) => {
      access(i, false);
      const { used, reserved } = snapshots[i];
      for (const dim of DIMENSIONS) {
        expect(used[dim] ?? 0, `${where}: ${budget.id} used ${dim}`).toBeGreaterThanOrEqual(0);
        expect(reserved[dim] ?? 0, `${where}: ${budget.id} reserved ${dim}`).toBeGreaterThanOrEqual(
          0,
        );
      }
      if (budget.policy !== 'hard-stop') return;
      if (i >= 7 && !namedInner.includes(i)) return;
      for (const dim of Object.keys(budget.limits) as (keyof Amounts)[]) {
        const total = (used[dim] ?? 0) + (reserved[dim] ?? 0);
        const limit = budget.limits[dim] as number;
        const allowance = tracked[i].late[dim] ?? 0;
        if (total > limit) totals.overLimit += 1;
        expect(total, `${where}: ${budget.id} ${dim} used+reserved`).toBeLessThanOrEqual(
          limit + allowance,
        );
      }
    });
  };

  const takeEvents = () => {
    for (const e of events.splice(0)) {
      if (e.type !== 'threshold' && e.type !== 'exhausted') continue;
      totals.events += 1;
      // Declarations sharing a ledger differ in limit: the event's limit says whose it is.
      const index = budgets.findIndex(
        (b) => b.scope === e.scope && b.key === e.key && b.limits[e.dimension] === e.limit,
      );
      const budget = budgets[index];
      const threshold = e.type === 'threshold' ? e.threshold : 1;
      const limit = budget.limits[e.dimension] as number;
      expect(e.used, `${e.type} ${budget.id} ${e.dimension}@${threshold}`).toBeGreaterThanOrEqual(
        thresholdAmount(threshold, limit),
      );
      const marker = `${index}|${tracked[index].period}|${e.dimension}@${e.type === 'threshold' ? threshold : 'x'}`;
      fired.set(marker, (fired.get(marker) ?? 0) + 1);
      expect(fired.get(marker), `fired twice in one window: ${marker}`).toBe(1);
    }
  };

  const settle = async (h: Held, percent: number) => {
    if (h.settled) {
      // A second commit or release is a no-op: it must not reach the store.
      expect(await h.reservation.commit({ tokens: 1 })).toBe(false);
      return;
    }
    const lapsed = h.expiresAt <= now;
    h.budgets.forEach((i) => access(i, true));
    const actual: Amounts = {
      tokens: Math.floor(((h.reservation.amounts.tokens ?? 0) * percent) / 100),
      requests: h.reservation.amounts.requests ?? 0,
    };
    if (lapsed) {
      totals.late += 1;
      for (const i of h.budgets) {
        for (const dim of ['tokens', 'requests'] as const) {
          tracked[i].late[dim] = (tracked[i].late[dim] ?? 0) + (actual[dim] ?? 0);
        }
      }
    }
    h.settled = true;
    expect(await h.reservation.commit(actual)).toBe(true);
    takeEvents();
  };

  try {
    for (const [step, o] of ops.entries()) {
      totals.ops += 1;
      const where = `step ${step} (${o.kind})`;
      if (o.kind === 'reserve') {
        const chain = [0, 1 + o.user, 3 + 2 * o.user + o.session].slice(0, o.depth);
        if (o.depth === 3 && o.inner) chain.push(7 + 2 * o.user + o.session);
        chain.forEach((i) => access(i, true));
        const base: Amounts = { tokens: o.base, ...(o.request ? { requests: 1 } : {}) };
        try {
          const reservation = await ledger.reserve(
            chain.map((i) => budgets[i]),
            { base, units: o.units },
          );
          totals.reserved += 1;
          namedInner = chain.filter((i) => i >= 7);
          held.push({
            reservation,
            budgets: chain,
            expiresAt: now + RESERVATION_TTL,
            settled: false,
          });
        } catch (error) {
          if (!(error instanceof BudgetExceededError)) throw error;
          totals.refused += 1;
        }
      } else if (o.kind === 'commit' || o.kind === 'release') {
        if (held.length === 0) continue;
        const h = held[o.which % held.length];
        if (o.kind === 'commit') await settle(h, o.percent);
        else if (h.settled) expect(await h.reservation.release()).toBe(false);
        else {
          h.budgets.forEach((i) => access(i, false));
          h.settled = true;
          expect(await h.reservation.release()).toBe(true);
        }
      } else if (o.kind === 'advance') {
        now += o.ms;
      } else {
        sweep(now);
        budgets.forEach((_, i) => access(i, false));
      }
      await check(where);
      namedInner = [];
    }

    // Invariant 2: nothing stays reserved once every call is over, either way it ends.
    if (settleAtEnd) {
      for (const [i, h] of held.entries()) {
        if (h.settled) continue;
        if (i % 2 === 0) await settle(h, 100);
        else {
          h.budgets.forEach((b) => access(b, false));
          h.settled = true;
          await h.reservation.release();
        }
      }
    } else {
      now += RESERVATION_TTL;
    }
    await check('end');
    const snapshots = await store.snapshot(budgets, now);
    snapshots.forEach((s, i) => expect(s.reserved, `end: ${budgets[i].id} reserved`).toEqual({}));
    totals.runs += 1;
  } finally {
    subscription.unsubscribe();
    await ledger.close();
    await close();
  }
}

const property = (make: (clock: () => number) => StoreUnderTest, name: string) =>
  fc.asyncProperty(
    budgetDefs,
    fc.array(op, { minLength: 1, maxLength: 80, size: 'max' }),
    fc.boolean(),
    async (defs, ops, settleAtEnd) => {
      await checkRun(make, `${name}-${++runSeq}`, defs, ops, settleAtEnd);
    },
  );
let runSeq = 0;

describe('Ledger invariants under random interleavings', () => {
  afterAll(() => {
    if (process.env.TOKENCAP_RELIABILITY_REPORT === '1') {
      console.log(`ledger properties: ${JSON.stringify(totals)}`);
    }
  });

  it('MemoryLedgerStore: hard-stop holds, nothing leaks, thresholds fire once per window', async () => {
    await fc.assert(
      property((clock) => {
        const store = new MemoryLedgerStore({ sweepInterval: false, clock });
        return { store, sweep: (now) => store.sweep(now), close: () => store.close() };
      }, 'mem'),
      { numRuns: RUNS },
    );
  }, 60_000);

  describe.skipIf(!available)('RedisLedgerStore', () => {
    const { prefix, client } = redisSuite('reliability-property');

    it('hard-stop holds, nothing leaks, thresholds fire once per window', async () => {
      await fc.assert(
        property(() => {
          // Redis has no sweep: keys expire by themselves and every script evicts idle ledgers.
          const store = new RedisLedgerStore({ client, prefix, commandTimeout: 10_000 });
          return { store, sweep: () => undefined, close: () => store.close() };
        }, 'redis'),
        { numRuns: Math.ceil(RUNS / 2) },
      );
    }, 60_000);
  });
});
