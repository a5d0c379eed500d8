import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BudgetDefinition, MAX_AMOUNT, defineBudget } from '../../lib/core/budget.js';
import type { LedgerStore, ReserveInput } from '../../lib/core/ledger-store.interface.js';

export interface StoreHarness {
  store: LedgerStore;
  close(): Promise<unknown>;
}

const T0 = 1_700_006_400_000; // a fixed epoch ms at midnight UTC, so minute and hour windows start on it

/**
 * The behaviour every LedgerStore must have. Each store's spec calls this with a factory; keys are
 * unique per test so a shared server (Redis) needs no flushing.
 */
export function describeLedgerStoreContract(
  name: string,
  create: () => Promise<StoreHarness>,
): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: LedgerStore;
    let run: string;
    let seq = 0;

    beforeEach(async () => {
      harness = await create();
      store = harness.store;
      run = randomUUID().slice(0, 8);
    });
    afterEach(async () => {
      await harness.close();
    });

    const budget = (def: Partial<BudgetDefinition> & { limit: BudgetDefinition['limit'] }) =>
      defineBudget({
        scope: 'session',
        key: `${run}-${def.key ?? 'k'}`,
        ...def,
        ...(def.key ? { key: `${run}-${def.key}` } : {}),
      });
    const reserve = (
      budgets: ReserveInput['budgets'],
      base: number,
      extra: Partial<ReserveInput> = {},
    ) =>
      store.reserve({
        reservationId: `r${++seq}-${run}`,
        budgets,
        base: { tokens: base },
        now: T0,
        expiresAt: T0 + 60_000,
        ...extra,
      });

    it('reads a never-charged budget as zero', async () => {
      const b = budget({ limit: 100 });
      expect(await store.snapshot([b], T0)).toEqual([{ used: {}, reserved: {} }]);
    });

    it('holds a reservation, then commits actual usage and drops the hold', async () => {
      const b = budget({ limit: 100 });
      const r = await reserve([b], 30);
      expect(r).toMatchObject({ ok: true, units: 0, amounts: { tokens: 30 } });
      expect(await store.snapshot([b], T0)).toEqual([{ used: {}, reserved: { tokens: 30 } }]);
      const id = `r${seq}-${run}`;
      const c = await store.commit({
        reservationId: id,
        budgets: [b],
        actual: { tokens: 25 },
        now: T0,
      });
      expect(c.released).toBe(true);
      expect(c.snapshots).toEqual([{ used: { tokens: 25 }, reserved: {} }]);
      expect(c.crossings).toEqual([]);
    });

    it('refuses under hard-stop when used + reserved + request exceeds the limit, reserving nothing anywhere', async () => {
      const outer = budget({ key: 'outer', limit: 1000 });
      const inner = budget({ key: 'inner', limit: 50 });
      expect((await reserve([outer, inner], 40)).ok).toBe(true);
      const refused = await reserve([outer, inner], 11);
      expect(refused).toEqual({
        ok: false,
        index: 1,
        dimension: 'tokens',
        snapshot: { used: {}, reserved: { tokens: 40 } },
        requested: 11,
      });
      expect(await store.snapshot([outer, inner], T0)).toEqual([
        { used: {}, reserved: { tokens: 40 } },
        { used: {}, reserved: { tokens: 40 } },
      ]);
      expect((await reserve([outer, inner], 10)).ok).toBe(true);
    });

    it('clamps flexible units to what the tightest hard-stop budget has left, and to maxReservation', async () => {
      const outer = budget({ key: 'outer', limit: 1000 });
      const inner = budget({ key: 'inner', limit: 300 });
      const r1 = await reserve([outer, inner], 100, {
        units: { min: 1, max: Infinity, ifUnbounded: 0 },
      });
      expect(r1).toMatchObject({ ok: true, units: 200, amounts: { tokens: 300 } });
      const capped = budget({ key: 'capped', limit: 1000, maxReservation: 64 });
      const r2 = await reserve([capped], 100, { units: { min: 1, max: 500, ifUnbounded: 0 } });
      expect(r2).toMatchObject({ ok: true, units: 64, amounts: { tokens: 164 } });
      const r3 = await reserve([capped], 10, { units: { min: 1, max: 20, ifUnbounded: 0 } });
      expect(r3).toMatchObject({ ok: true, units: 20, amounts: { tokens: 30 } });
    });

    it('refuses a call that cannot get its minimum units, and reserves ifUnbounded when nothing clamps', async () => {
      const b = budget({ limit: 100 });
      expect(
        await reserve([b], 100, { units: { min: 1, max: Infinity, ifUnbounded: 0 } }),
      ).toMatchObject({
        ok: false,
        requested: 101,
      });
      const n = budget({ key: 'n', limit: 100, policy: 'notify' });
      expect(
        await reserve([n], 10, { units: { min: 1, max: Infinity, ifUnbounded: 256 } }),
      ).toMatchObject({
        ok: true,
        units: 256,
        amounts: { tokens: 266 },
      });
    });

    it('degrade lets calls run while under the limit, even across it, and refuses once it is reached', async () => {
      const b = budget({ limit: 100, policy: 'degrade' });
      const r = await reserve([b], 90);
      expect(r.ok).toBe(true);
      await store.commit({
        reservationId: `r${seq}-${run}`,
        budgets: [b],
        actual: { tokens: 99 },
        now: T0,
      });
      const crossing = await reserve([b], 500);
      expect(crossing.ok).toBe(true);
      await store.commit({
        reservationId: `r${seq}-${run}`,
        budgets: [b],
        actual: { tokens: 500 },
        now: T0,
      });
      expect(await reserve([b], 1)).toMatchObject({ ok: false, dimension: 'tokens', requested: 1 });
    });

    it('notify never refuses', async () => {
      const b = budget({ limit: 10, policy: 'notify' });
      expect((await reserve([b], 1_000)).ok).toBe(true);
      expect((await reserve([b], 1_000)).ok).toBe(true);
    });

    it('records commits larger than the reservation, and commits after a release', async () => {
      const b = budget({ limit: 100 });
      await reserve([b], 10);
      const id = `r${seq}-${run}`;
      expect(await store.release({ reservationId: id, budgets: [b], now: T0 })).toBe(true);
      expect(await store.release({ reservationId: id, budgets: [b], now: T0 })).toBe(false);
      const late = await store.commit({
        reservationId: id,
        budgets: [b],
        actual: { tokens: 150 },
        now: T0,
      });
      expect(late.released).toBe(false);
      expect(late.snapshots).toEqual([{ used: { tokens: 150 }, reserved: {} }]);
    });

    it('fires each threshold once per window, ascending, including several crossed by one commit', async () => {
      const b = budget({ limit: 1000, thresholds: [0.5, 0.8, 0.9] });
      const commit = (tokens: number, now = T0) =>
        store.commit({ reservationId: `none-${++seq}`, budgets: [b], actual: { tokens }, now });
      expect((await commit(499)).crossings).toEqual([]);
      expect((await commit(1)).crossings).toEqual([
        { index: 0, dimension: 'tokens', threshold: 0.5, exhausted: false },
      ]);
      expect((await commit(500)).crossings).toEqual([
        { index: 0, dimension: 'tokens', threshold: 0.8, exhausted: false },
        { index: 0, dimension: 'tokens', threshold: 0.9, exhausted: false },
        { index: 0, dimension: 'tokens', threshold: 1, exhausted: true },
      ]);
      expect((await commit(10)).crossings).toEqual([]);
    });

    it('rolls the window over: usage and fired thresholds reset, in-flight reservations stay', async () => {
      const b = budget({ limit: 100, window: '1m' });
      await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 85 }, now: T0 });
      await reserve([b], 10, { now: T0 + 59_000, expiresAt: T0 + 600_000 });
      expect(await store.snapshot([b], T0 + 59_999)).toEqual([
        { used: { tokens: 85 }, reserved: { tokens: 10 } },
      ]);
      expect(await store.snapshot([b], T0 + 60_000)).toEqual([
        { used: {}, reserved: { tokens: 10 } },
      ]);
      const c = await store.commit({
        reservationId: 'y',
        budgets: [b],
        actual: { tokens: 80 },
        now: T0 + 60_001,
      });
      expect(c.crossings).toEqual([
        { index: 0, dimension: 'tokens', threshold: 0.8, exhausted: false },
      ]);
    });

    it('drops an idle ledger after its ttl', async () => {
      const b = budget({ limit: 100, ttl: '30s' });
      await store.commit({ reservationId: 'x', budgets: [b], actual: { tokens: 60 }, now: T0 });
      expect(await store.snapshot([b], T0 + 29_000)).toEqual([
        { used: { tokens: 60 }, reserved: {} },
      ]);
      expect(await store.snapshot([b], T0 + 30_001)).toEqual([{ used: {}, reserved: {} }]);
    });

    it('lets a reservation lapse at expiresAt so a crashed call cannot hold capacity forever', async () => {
      const b = budget({ limit: 100 });
      await reserve([b], 70, { expiresAt: T0 + 5_000 });
      expect(await reserve([b], 40, { now: T0 + 4_999 })).toMatchObject({ ok: false });
      expect(await reserve([b], 40, { now: T0 + 5_000, expiresAt: T0 + 60_000 })).toMatchObject({
        ok: true,
      });
    });

    it('keeps tokens, micro-dollars and requests side by side, refusing on any dimension', async () => {
      const b = budget({ limit: { tokens: 10_000, usd: 0.01, requests: 3 } });
      const perUnit = { tokens: 1, usd: 0.6 }; // 0.6 micro-dollars per output token
      const r = await store.reserve({
        reservationId: `m-${run}`,
        budgets: [b],
        base: { tokens: 100, usd: 15, requests: 1 },
        perUnit,
        units: { min: 1, max: 1000, ifUnbounded: 0 },
        now: T0,
        expiresAt: T0 + 60_000,
      });
      expect(r).toMatchObject({
        ok: true,
        units: 1000,
        amounts: { tokens: 1100, usd: 615, requests: 1 },
      });
      await store.commit({
        reservationId: `m-${run}`,
        budgets: [b],
        actual: { tokens: 300, usd: 200, requests: 1 },
        now: T0,
      });
      for (let i = 0; i < 2; i++)
        expect((await reserve([b], 1, { base: { tokens: 1, requests: 1 } })).ok).toBe(true);
      expect(await reserve([b], 1, { base: { tokens: 1, requests: 1 } })).toMatchObject({
        ok: false,
        dimension: 'requests',
        requested: 1,
      });
    });

    it('1,000 concurrent callers on nested budgets never overshoot and fire each threshold exactly once', async () => {
      const global = budget({ scope: 'global', key: 'g', limit: 1_000_000 });
      const session = budget({ key: 's', limit: 5_000 });
      const task = budget({ scope: 'task', key: 't', limit: 4_000, thresholds: [0.8, 0.9] });
      const budgets = [global, session, task];
      const crossings: string[] = [];
      let granted = 0;
      let refused = 0;
      // Each caller keeps spending until refused, so the budget ends up full from every side at once.
      await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          for (let call = 0; ; call++) {
            const id = `c${i}.${call}-${run}`;
            const r = await store.reserve({
              reservationId: id,
              budgets,
              base: { tokens: 7 },
              units: { min: 1, max: 3, ifUnbounded: 0 },
              now: T0,
              expiresAt: T0 + 60_000,
            });
            if (!r.ok) {
              refused++;
              return;
            }
            granted++;
            const actual = 7 + Math.min(r.units, 1 + ((i + call) % 3));
            const c = await store.commit({
              reservationId: id,
              budgets,
              actual: { tokens: actual },
              now: T0,
            });
            for (const x of c.crossings) {
              crossings.push(`${budgets[x.index].scope}@${x.exhausted ? 'limit' : x.threshold}`);
            }
          }
        }),
      );
      const [g, s, t] = await store.snapshot(budgets, T0);
      expect(t.used.tokens).toBeLessThanOrEqual(4_000);
      expect(t.used.tokens).toBeGreaterThan(4_000 - 10); // full: no caller could fit 8 more
      expect(t.reserved).toEqual({});
      expect(s).toEqual(t);
      expect(g).toEqual(t);
      expect(refused).toBe(1000);
      expect(granted).toBeGreaterThan(400);
      expect(crossings.filter((c) => c.startsWith('task@'))).toEqual(
        t.used.tokens === 4_000 ? ['task@0.8', 'task@0.9', 'task@limit'] : ['task@0.8', 'task@0.9'],
      );
      expect(crossings.filter((c) => !c.startsWith('task@'))).toEqual([]);
    });

    describe('ledger identity: scope, key and window', () => {
      const HOUR = 3_600_000;
      const commit = (budgets: ReserveInput['budgets'], tokens: number, now = T0) =>
        store.commit({ reservationId: `c${++seq}-${run}`, budgets, actual: { tokens }, now });

      it('keeps an hourly and a daily budget of one key apart: alternating calls reset neither', async () => {
        const hourly = budget({ key: 'u', limit: 1_000, window: '1h' });
        const daily = budget({ key: 'u', limit: 5_000, window: '1d' });
        const granted = { hourly: 0, daily: 0 };
        // 60 calls of 40 tokens each, alternating, all in one hour: the hourly budget admits 25.
        for (let i = 0; i < 60; i++) {
          const [name, b] =
            i % 2 === 0 ? (['hourly', hourly] as const) : (['daily', daily] as const);
          const now = T0 + i * 1_000;
          const r = await reserve([b], 40, { now, expiresAt: now + 60_000 });
          if (!r.ok) continue;
          granted[name] += 1;
          await store.commit({
            reservationId: `r${seq}-${run}`,
            budgets: [b],
            actual: { tokens: 40 },
            now,
          });
        }
        expect(granted).toEqual({ hourly: 25, daily: 30 });
        expect(await store.snapshot([hourly, daily], T0 + 60_000)).toEqual([
          { used: { tokens: 1_000 }, reserved: {} },
          { used: { tokens: 1_200 }, reserved: {} },
        ]);
        // The hour rolls over; the day goes on.
        expect(await store.snapshot([hourly, daily], T0 + HOUR)).toEqual([
          { used: {}, reserved: {} },
          { used: { tokens: 1_200 }, reserved: {} },
        ]);
        // A budget without a window is a third ledger.
        expect(await store.snapshot([budget({ key: 'u', limit: 10 })], T0)).toEqual([
          { used: {}, reserved: {} },
        ]);
      });

      it('shares one usage between declarations of one ledger, each checked against its own limit', async () => {
        const loose = budget({ key: 'shared', limit: 1_000 });
        const tight = budget({ key: 'shared', limit: 100, policy: 'hard-stop' });
        await commit([loose], 90);
        // The loose declaration alone still has room; the tight one binds.
        expect((await reserve([loose], 50)).ok).toBe(true);
        const id = `r${seq}-${run}`;
        await store.release({ reservationId: id, budgets: [loose], now: T0 });
        expect(await reserve([tight], 11)).toMatchObject({
          ok: false,
          index: 0,
          requested: 11,
          snapshot: { used: { tokens: 90 }, reserved: {} },
        });
        // Named together (a controller's @Budget and a service's): held and charged once.
        const both = await reserve([loose, tight], 10, {
          units: { min: 0, max: 500, ifUnbounded: 0 },
        });
        expect(both).toMatchObject({ ok: true, units: 0, amounts: { tokens: 10 } });
        expect(await store.snapshot([loose, tight], T0)).toEqual([
          { used: { tokens: 90 }, reserved: { tokens: 10 } },
          { used: { tokens: 90 }, reserved: { tokens: 10 } },
        ]);
        const c = await store.commit({
          reservationId: `r${seq}-${run}`,
          budgets: [loose, tight],
          actual: { tokens: 10 },
          now: T0,
        });
        expect(c.released).toBe(true);
        expect(c.snapshots).toEqual([
          { used: { tokens: 100 }, reserved: {} },
          { used: { tokens: 100 }, reserved: {} },
        ]);
        // The first commit the tight declaration sees reports all it reached, once; the loose
        // declaration's 80 % is at 800.
        expect(c.crossings).toEqual([
          { index: 1, dimension: 'tokens', threshold: 0.8, exhausted: false },
          { index: 1, dimension: 'tokens', threshold: 0.9, exhausted: false },
          { index: 1, dimension: 'tokens', threshold: 1, exhausted: true },
        ]);
        expect(await reserve([loose, tight], 1)).toMatchObject({ ok: false, index: 1 });
        expect((await reserve([loose], 1)).ok).toBe(true);
      });

      it("fires each declaration's thresholds once per window, however the declarations are combined", async () => {
        const loose = budget({ key: 't', limit: 1_000, window: '1h' });
        const tight = budget({ key: 't', limit: 100, window: '1h' });
        const fired = (c: { crossings: { index: number; threshold: number }[] }, names: string[]) =>
          c.crossings.map((x) => `${names[x.index]}@${x.threshold}`);
        // 80 tokens: the tight declaration's 80 %; the loose one has not reached 800.
        expect(fired(await commit([tight], 80), ['tight'])).toEqual(['tight@0.8']);
        // Its marker must not stop the loose declaration's 80 % (tokens@0.8 used to be shared).
        expect(fired(await commit([loose, tight], 720), ['loose', 'tight'])).toEqual([
          'loose@0.8',
          'tight@0.9',
          'tight@1',
        ]);
        expect(fired(await commit([tight, loose], 100), ['tight', 'loose'])).toEqual(['loose@0.9']);
        expect(fired(await commit([loose], 100), ['loose'])).toEqual(['loose@1']);
        expect(fired(await commit([loose, tight], 1), ['loose', 'tight'])).toEqual([]);
        // The next hour, each fires again once.
        expect(fired(await commit([loose, tight], 850, T0 + HOUR), ['loose', 'tight'])).toEqual([
          'loose@0.8',
          'tight@0.8',
          'tight@0.9',
          'tight@1',
        ]);
      });

      it('fires the thresholds of sibling declarations after the commit, charging and keeping the ledger for none of them', async () => {
        const brief = budget({ key: 'sib', limit: 100_000, ttl: '1m' });
        const small = budget({ key: 'sib', limit: 1_000 }); // no ttl: would keep the ledger forever
        const other = budget({ key: 'other', limit: 10 }); // another key: never a sibling
        const c = await store.commit({
          reservationId: `c${++seq}-${run}`,
          budgets: [brief],
          siblings: [small],
          actual: { tokens: 950 },
          now: T0,
        });
        // Snapshots and crossings run over the budgets, then the siblings.
        expect(c.snapshots).toEqual([
          { used: { tokens: 950 }, reserved: {} },
          { used: { tokens: 950 }, reserved: {} },
        ]);
        expect(c.crossings).toEqual([
          { index: 1, dimension: 'tokens', threshold: 0.8, exhausted: false },
          { index: 1, dimension: 'tokens', threshold: 0.9, exhausted: false },
        ]);
        expect(c.activity).toEqual([
          { commits: 1, since: T0 },
          { commits: 1, since: T0 },
        ]);
        // Once per declared limit: neither the sibling again nor the declaration itself.
        const again = await store.commit({
          reservationId: `c${++seq}-${run}`,
          budgets: [small, other],
          siblings: [brief],
          actual: { tokens: 50 },
          now: T0 + 1_000,
        });
        expect(again.crossings).toEqual([
          { index: 0, dimension: 'tokens', threshold: 1, exhausted: true },
          { index: 1, dimension: 'tokens', threshold: 0.8, exhausted: false },
          { index: 1, dimension: 'tokens', threshold: 0.9, exhausted: false },
          { index: 1, dimension: 'tokens', threshold: 1, exhausted: true },
        ]);
        // The sibling without a ttl did not keep the ledger: it goes a minute after its last use
        // (the small declaration's own commit above kept it without end, so use a fresh key).
        const brief2 = budget({ key: 'sib2', limit: 100_000, ttl: '1m' });
        const small2 = budget({ key: 'sib2', limit: 1_000 });
        await store.commit({
          reservationId: `c${++seq}-${run}`,
          budgets: [brief2],
          siblings: [small2],
          actual: { tokens: 5 },
          now: T0,
        });
        expect(await store.snapshot([small2], T0 + 61_000)).toEqual([{ used: {}, reserved: {} }]);
      });

      it('keeps a ledger as long as its longest-lived declaration wants it', async () => {
        const brief = budget({ key: 'ttl', limit: 100, ttl: '1m' });
        const lasting = budget({ key: 'ttl', limit: 100, ttl: '10m' });
        await commit([brief, lasting], 5);
        expect(await store.snapshot([brief], T0 + 5 * 60_000)).toEqual([
          { used: { tokens: 5 }, reserved: {} },
        ]);
        expect(await store.snapshot([brief], T0 + 10 * 60_000 + 1)).toEqual([
          { used: {}, reserved: {} },
        ]);
      });

      it('a short-lived declaration touched later never evicts a longer-lived sibling', async () => {
        // A lifetime cap and a ttl'd declaration of the same ledger, used by two routes: touching
        // the ledger through the ttl'd one (even a refused call) must not shorten its life.
        const lifetime = budget({ key: 'life', limit: 1_000 });
        const brief = budget({ key: 'life', limit: 1_000, ttl: '1s' });
        const windowed = budget({ key: 'win', limit: 1_000, window: '1h' });
        const briefWin = budget({ key: 'win', limit: 1_000, window: '1h', ttl: '1s' });
        await commit([lifetime], 900);
        await commit([windowed], 900);
        const refused = await reserve([brief], 500, { now: T0 + 1_000, expiresAt: T0 + 61_000 });
        expect(refused.ok).toBe(false);
        await commit([briefWin], 0, T0 + 1_000);
        const later = T0 + 5 * 60_000;
        expect(await store.snapshot([lifetime, windowed], later)).toEqual([
          { used: { tokens: 900 }, reserved: {} },
          { used: { tokens: 900 }, reserved: {} },
        ]);
      });

      it('never moves a window back: a caller whose clock lags charges the newest window', async () => {
        const b = budget({ key: 'skew', limit: 100, window: '1m' });
        await commit([b], 30, T0 + 60_500); // a replica whose clock is ahead opens the second minute
        const lagging = await commit([b], 20, T0 + 59_900); // one whose clock lags is still in the first
        expect(lagging.snapshots).toEqual([{ used: { tokens: 50 }, reserved: {} }]);
        expect(await store.snapshot([b], T0 + 61_000)).toEqual([
          { used: { tokens: 50 }, reserved: {} },
        ]);
        expect(await store.snapshot([b], T0 + 120_000)).toEqual([{ used: {}, reserved: {} }]);
      });
    });

    describe('settlement is idempotent by reservation id', () => {
      const commit = (
        reservationId: string,
        budgets: ReserveInput['budgets'],
        tokens: number,
        ifUnknown?: 'charge' | 'skip' | 'charge-once',
        now = T0,
      ) => store.commit({ reservationId, budgets, actual: { tokens }, now, ifUnknown });

      it('a commit retried after its first attempt applied (a lost reply) counts once', async () => {
        const b = budget({ limit: 1_000 });
        await reserve([b], 100);
        const id = `r${seq}-${run}`;
        expect((await commit(id, [b], 60)).released).toBe(true);
        const retry = await commit(id, [b], 60, 'skip');
        expect(retry.released).toBe(false);
        expect(retry.snapshots).toEqual([{ used: { tokens: 60 }, reserved: {} }]);
        expect(retry.crossings).toEqual([]);
      });

      it('a commit retried after an attempt that did not apply is recorded, held or lapsed', async () => {
        const b = budget({ limit: 1_000 });
        await reserve([b], 100);
        const held = `r${seq}-${run}`;
        expect((await commit(held, [b], 60, 'skip')).snapshots).toEqual([
          { used: { tokens: 60 }, reserved: {} },
        ]);
        // A reservation that lapsed uncommitted is remembered: its late commit counts, once.
        await reserve([b], 100, { expiresAt: T0 + 1_000 });
        const lapsed = `r${seq}-${run}`;
        expect(await store.snapshot([b], T0 + 2_000)).toEqual([
          { used: { tokens: 60 }, reserved: {} },
        ]);
        const late = await commit(lapsed, [b], 70, 'skip', T0 + 3_000);
        expect(late.released).toBe(false);
        expect(late.snapshots).toEqual([{ used: { tokens: 130 }, reserved: {} }]);
        expect((await commit(lapsed, [b], 70, 'skip', T0 + 4_000)).snapshots).toEqual([
          { used: { tokens: 130 }, reserved: {} },
        ]);
      });

      it('a retried commit is recorded where the ledger started after the reservation (evicted or lost)', async () => {
        const kept = budget({ key: 'kept', limit: 1_000 });
        const gone = budget({ key: 'gone', limit: 1_000, ttl: '1m' });
        const later = budget({ key: 'later', limit: 1_000 });
        await commit(`seed-${run}`, [kept, gone], 1);
        // Reserved at T0; `gone` is then evicted (idle past its ttl) and `later` starts afresh.
        const reservedAt = T0;
        const now = T0 + 2 * 60_000;
        await commit(`other-${run}`, [later], 2, 'charge', now - 1);
        // None holds this id: only `kept` has state a first attempt could have written to.
        const c = await store.commit({
          reservationId: `lost-${run}`,
          budgets: [kept, gone, later],
          actual: { tokens: 40 },
          now,
          ifUnknown: 'skip',
          reservedAt,
        });
        expect(c.snapshots).toEqual([
          { used: { tokens: 1 }, reserved: {} },
          { used: { tokens: 40 }, reserved: {} },
          { used: { tokens: 42 }, reserved: {} },
        ]);
        // Without reservedAt, only a ledger with no state at all records it.
        const fresh = budget({ key: 'fresh', limit: 1_000 });
        const d = await commit(`lost2-${run}`, [kept, fresh], 5, 'skip', now);
        expect(d.snapshots).toEqual([
          { used: { tokens: 1 }, reserved: {} },
          { used: { tokens: 5 }, reserved: {} },
        ]);
      });

      it('charge-once records usage without a reservation once, whatever the retries', async () => {
        const outer = budget({ key: 'outer', limit: 1_000 });
        const inner = budget({ key: 'inner', limit: 1_000 });
        const id = `charge-${run}`;
        for (let i = 0; i < 3; i++) {
          const c = await commit(id, [outer, inner], 25, 'charge-once', T0 + i);
          expect(c.snapshots).toEqual([
            { used: { tokens: 25 }, reserved: {} },
            { used: { tokens: 25 }, reserved: {} },
          ]);
        }
        // By default (charge) an unknown id is recorded: usage is never dropped for want of a hold.
        expect((await commit(`other-${run}`, [outer], 5)).snapshots).toEqual([
          { used: { tokens: 30 }, reserved: {} },
        ]);
      });

      it('a release retried drops the hold once and never touches usage', async () => {
        const b = budget({ limit: 100 });
        await commit(`x-${run}`, [b], 20);
        await reserve([b], 50);
        const id = `r${seq}-${run}`;
        expect(await store.release({ reservationId: id, budgets: [b], now: T0 })).toBe(true);
        expect(await store.release({ reservationId: id, budgets: [b], now: T0 })).toBe(false);
        expect(await store.snapshot([b], T0)).toEqual([{ used: { tokens: 20 }, reserved: {} }]);
        // A released reservation is settled: a retried commit of it records nothing.
        expect((await commit(id, [b], 50, 'skip')).snapshots).toEqual([
          { used: { tokens: 20 }, reserved: {} },
        ]);
      });
    });

    it('saturates totals at MAX_AMOUNT instead of overflowing, and keeps working', async () => {
      const b = budget({ limit: MAX_AMOUNT, policy: 'notify' });
      const c1 = await store.commit({
        reservationId: `big1-${run}`,
        budgets: [b],
        actual: { tokens: MAX_AMOUNT },
        now: T0,
      });
      expect(c1.snapshots).toEqual([{ used: { tokens: MAX_AMOUNT }, reserved: {} }]);
      // Past the bound (a store used directly, without the Ledger's validation): still saturated.
      const c2 = await store.commit({
        reservationId: `big2-${run}`,
        budgets: [b],
        actual: { tokens: Number.MAX_VALUE },
        now: T0,
      });
      expect(c2.snapshots).toEqual([{ used: { tokens: MAX_AMOUNT }, reserved: {} }]);
      const r = await reserve([b], 1, { units: { min: 0, max: Infinity, ifUnbounded: 1e300 } });
      expect(r).toMatchObject({ ok: true, amounts: { tokens: MAX_AMOUNT } });
      expect(await store.snapshot([b], T0)).toEqual([
        { used: { tokens: MAX_AMOUNT }, reserved: { tokens: MAX_AMOUNT } },
      ]);
    });

    it('holds a base amount past MAX_AMOUNT as MAX_AMOUNT, so reserved totals stay finite', async () => {
      // Found by the Redis/memory equivalence property: Number.MAX_VALUE plus an earlier hold
      // became "inf" in Redis's reply while memory stayed finite.
      const b = budget({ limit: { usd: 0.0005 }, policy: 'notify' });
      const base = { tokens: 0, usd: Number.MAX_VALUE };
      const r1 = await reserve([b], 0, { base: { tokens: 1e15, usd: 1e300 } });
      const r2 = await reserve([b], 0, { base });
      expect(r1).toMatchObject({ ok: true, amounts: { tokens: MAX_AMOUNT, usd: MAX_AMOUNT } });
      expect(r2).toMatchObject({ ok: true, amounts: { usd: MAX_AMOUNT } });
      expect(await store.snapshot([b], T0)).toEqual([
        { used: {}, reserved: { tokens: MAX_AMOUNT, usd: 2 * MAX_AMOUNT } },
      ]);
    });
  });
}
