import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BudgetDefinition, defineBudget } from '../../lib/core/budget.js';
import type { ForecastEvent, TokencapEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { BudgetExceededError, TokencapConfigError } from '../../lib/errors.js';

export interface OperationsHarness {
  store: LedgerStore;
  close(): Promise<unknown>;
}

const iso = (s: string) => Date.parse(s);
const T0 = iso('2026-03-02T00:00:00.000Z'); // a Monday, midnight UTC

/**
 * Calendar windows, credits, resets and forecasts through a Ledger with an injected clock: the
 * behaviour both stores must share (the Redis/memory equivalence check covers random sequences).
 */
export function describeLedgerOperationsContract(
  name: string,
  create: () => Promise<OperationsHarness>,
): void {
  describe(`Ledger operations: ${name}`, () => {
    let harness: OperationsHarness;
    let ledger: Ledger;
    let now: number;
    let events: TokencapEvent[];
    let run: string;

    beforeEach(async () => {
      harness = await create();
      now = T0;
      events = [];
      run = randomUUID().slice(0, 8);
      ledger = new Ledger({ store: harness.store, clock: () => now });
      ledger.events$.subscribe((e) => events.push(e));
    });
    afterEach(async () => {
      await ledger.close();
      await harness.close();
    });

    const budget = (def: Partial<BudgetDefinition> & { limit: BudgetDefinition['limit'] }) =>
      defineBudget({ scope: 'user', key: `${run}-k`, ...def });
    const spend = (b: ReturnType<typeof budget>, tokens: number) => ledger.charge([b], { tokens });
    const of = (type: TokencapEvent['type']) => events.filter((e) => e.type === type);
    // Forecasts claim their marker in the store: with Redis the event follows the commit by a
    // round trip, two when the server has not seen the claim script yet (NOSCRIPT, then EVAL).
    // Replies come in order, so three reads sent one after another arrive after it.
    const settle = async () => {
      for (let i = 0; i < 3; i++) await ledger.usage([budget({ limit: 1 })]);
    };

    describe('calendar windows', () => {
      it('keeps money in whole micro-dollars: fractions from the engine API are rounded up, never drift', async () => {
        const b = defineBudget({ scope: 'user', key: `${run}-usd`, limit: { usd: 1 } });
        await ledger.charge([b], { usd: 0.1 });
        await ledger.charge([b], { usd: 0.2 });
        const r = await ledger.reserve([b], { base: { usd: 2.5 } });
        await r.commit({ usd: 1.0000001 });
        // 1 + 1 + 2 micro-dollars, in dollars: exact, with no 0.30000000000000004 anywhere.
        expect((await ledger.usage([b]))[0]!.dimensions.usd).toMatchObject({
          used: 4e-6,
          reserved: 0,
        });
      });

      it('a month in Berlin and a month in UTC are two ledgers, each rolling at its own midnight', async () => {
        const utc = budget({ limit: 1000, window: 'month' });
        const berlin = budget({ limit: 1000, window: 'month', timeZone: 'Europe/Berlin' });
        now = iso('2026-01-31T22:30:00.000Z'); // 23:30 in Berlin: January in both
        await ledger.charge([utc, berlin], { tokens: 100 });
        now = iso('2026-01-31T23:30:00.000Z'); // 00:30 on 1 February in Berlin
        await ledger.charge([utc, berlin], { tokens: 10 });
        const [u, b] = await ledger.usage([utc, berlin]);
        expect([u.used, b.used]).toEqual([110, 10]);
        expect(u.windowEnd).toBe(iso('2026-02-01T00:00:00.000Z'));
        expect(b.windowEnd).toBe(iso('2026-02-28T23:00:00.000Z'));
        now = iso('2026-02-01T00:00:00.000Z');
        expect((await ledger.usage([utc, berlin])).map((x) => x.used)).toEqual([0, 10]);
      });

      it('a Berlin day lasts 23 hours on 2026-03-29 and 25 on 2026-10-25', async () => {
        const day = budget({ limit: 1000, window: 'day', timeZone: 'Europe/Berlin' });
        now = iso('2026-03-28T23:00:00.000Z'); // local midnight, 29 March
        await spend(day, 5);
        now = iso('2026-03-29T21:59:59.999Z'); // 23:59:59.999 local, after the switch
        await spend(day, 5);
        expect((await ledger.usage([day]))[0]).toMatchObject({
          used: 10,
          windowEnd: iso('2026-03-29T22:00:00.000Z'),
        });
        now = iso('2026-03-29T22:00:00.000Z');
        expect((await ledger.usage([day]))[0].used).toBe(0);
        now = iso('2026-10-24T22:00:00.000Z'); // local midnight, 25 October
        await spend(day, 7);
        now = iso('2026-10-25T22:59:59.999Z');
        expect((await ledger.usage([day]))[0]).toMatchObject({
          used: 7,
          windowEnd: iso('2026-10-25T23:00:00.000Z'),
        });
      });

      it('a leap day belongs to February, and the month ends after it', async () => {
        const month = budget({ limit: 1000, window: 'month', timeZone: 'America/New_York' });
        now = iso('2028-03-01T04:59:59.999Z'); // 23:59:59.999 on 29 February in New York
        await spend(month, 3);
        expect((await ledger.usage([month]))[0].windowEnd).toBe(iso('2028-03-01T05:00:00.000Z'));
        now = iso('2028-03-01T05:00:00.000Z');
        expect((await ledger.usage([month]))[0].used).toBe(0);
      });
    });

    describe('declarations sharing a ledger', () => {
      const crossed = () =>
        events
          .filter((e) => e.type !== 'usage')
          .map((e) => {
            const x = e as { threshold?: number; limit?: number; used?: number };
            return `${e.type}${x.threshold ? ` ${x.threshold}` : ''} limit=${x.limit} used=${x.used}`;
          });

      it("usage charged through one declaration fires the other's thresholds and exhaustion, once each", async () => {
        const small = budget({ limit: 1000, window: '1h' });
        const big = budget({ limit: 100_000, window: '1h' });
        const r = await ledger.reserve([small], { base: { tokens: 100 } });
        await r.commit({ tokens: 100 });
        const r2 = await ledger.reserve([big], { base: { tokens: 1100 } });
        await r2.commit({ tokens: 1100 });
        await expect(ledger.reserve([small], { base: { tokens: 10 } })).rejects.toThrow(
          BudgetExceededError,
        );
        expect(events.map((e) => e.type)).toEqual([
          'usage',
          'usage',
          'threshold',
          'threshold',
          'exhausted',
          'refused',
        ]);
        expect(crossed()).toEqual([
          'threshold 0.8 limit=1000 used=1200',
          'threshold 0.9 limit=1000 used=1200',
          'exhausted limit=1000 used=1200',
          'refused limit=1000 used=1200',
        ]);
        // The usage events are the charged budget's alone.
        expect(of('usage').map((e) => (e as { limit: number }).limit)).toEqual([1000, 100_000]);
        // Once per declared limit and window: neither declaration fires them again.
        await spend(big, 10);
        await spend(small, 0);
        expect(crossed()).toHaveLength(4);
      });

      it('fires each threshold of the other declaration at the commit that reaches it', async () => {
        const small = budget({ limit: 1000, window: '1h' });
        const big = budget({ limit: 100_000, window: '1h' });
        await spend(small, 100);
        await spend(big, 700); // 800: small's 80 %
        await spend(big, 50); // 850: nothing
        await spend(big, 150); // 1000: small's 90 % and exhaustion
        expect(crossed()).toEqual([
          'threshold 0.8 limit=1000 used=800',
          'threshold 0.9 limit=1000 used=1000',
          'exhausted limit=1000 used=1000',
        ]);
        // The next hour, they fire again once the small declaration is used in it.
        now += 3_600_000;
        events.length = 0;
        await spend(small, 10);
        await spend(big, 990);
        expect(crossed()).toEqual([
          'threshold 0.8 limit=1000 used=1000',
          'threshold 0.9 limit=1000 used=1000',
          'exhausted limit=1000 used=1000',
        ]);
      });

      it('a declaration refused on a ledger gets its thresholds from the next commit through another', async () => {
        const small = budget({ limit: 1000, window: '1h' });
        const big = budget({ limit: 100_000, window: '1h' });
        await spend(big, 1200);
        await expect(ledger.reserve([small], { base: { tokens: 10 } })).rejects.toThrow(
          BudgetExceededError,
        );
        await spend(big, 1);
        expect(crossed()).toEqual([
          'refused limit=1000 used=1200',
          'threshold 0.8 limit=1000 used=1201',
          'threshold 0.9 limit=1000 used=1201',
          'exhausted limit=1000 used=1201',
        ]);
      });

      it("never applies one key's declaration to another key, nor to another window", async () => {
        // Per-tenant limits: alice's 1,000 is not bob's, and the hourly 1,000 is not the daily one.
        const alice = defineBudget({
          scope: 'user',
          key: `${run}-alice`,
          limit: 1000,
          window: '1h',
        });
        const bob = defineBudget({
          scope: 'user',
          key: `${run}-bob`,
          limit: 100_000,
          window: '1h',
        });
        const daily = defineBudget({
          scope: 'user',
          key: `${run}-alice`,
          limit: 100_000,
          window: '1d',
        });
        await spend(alice, 10);
        await spend(bob, 5000);
        await spend(daily, 5000);
        expect(crossed()).toEqual([]);
      });
    });

    describe('reset', () => {
      it('clears usage and fired thresholds, keeps calls in flight, which commit into the fresh window', async () => {
        const b = budget({ limit: 1000, window: '1d', thresholds: [0.5] });
        await spend(b, 600);
        const inFlight = await ledger.reserve([b], { base: { tokens: 300 } });
        const usage = await ledger.reset(b);
        expect(usage).toMatchObject({ used: 0, reserved: 300, remaining: 700 });
        const reset = of('reset');
        expect(reset).toHaveLength(1);
        expect(reset[0]).toMatchObject({
          scope: 'user',
          key: b.key,
          at: now,
          cleared: { tokens: 600 },
        });
        await inFlight.commit({ tokens: 250 });
        await spend(b, 250);
        expect((await ledger.usage([b]))[0]).toMatchObject({ used: 500, reserved: 0 });
        // 0.5 fired before the reset and fires again in the fresh window.
        expect(of('threshold').map((e) => (e as { used: number }).used)).toEqual([600, 500]);
      });

      it('of a key never charged changes nothing', async () => {
        const b = budget({ limit: 1000 });
        expect(await ledger.reset(b)).toMatchObject({ used: 0, reserved: 0, remaining: 1000 });
        expect(of('reset')[0]).toMatchObject({ cleared: {} });
      });
    });

    describe('credit', () => {
      it('raises the limit for the current window only, and refusals follow it', async () => {
        const b = budget({ limit: 100, window: '1h' });
        await spend(b, 100);
        await expect(ledger.reserve([b], { base: { tokens: 1 } })).rejects.toThrow(
          BudgetExceededError,
        );
        const usage = await ledger.credit(b, { tokens: 50 });
        expect(usage).toMatchObject({ limit: 150, credit: 50, used: 100, remaining: 50 });
        expect(of('credit')).toEqual([
          expect.objectContaining({ type: 'credit', key: b.key, granted: { tokens: 50 }, usage }),
        ]);
        const r = await ledger.reserve([b], { base: { tokens: 50 } });
        await r.commit({ tokens: 50 });
        const refused = await ledger.reserve([b], { base: { tokens: 1 } }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(BudgetExceededError);
        expect(of('refused').at(-1)).toMatchObject({ limit: 150, used: 150, requested: 1 });
        now += 3_600_000;
        expect((await ledger.usage([b]))[0]).toMatchObject({ limit: 100, credit: 0, used: 0 });
      });

      it('a credit through one declaration re-arms the thresholds and exhaustion of another declaration of the ledger', async () => {
        const small = budget({ limit: 100, window: '1h', policy: 'notify', thresholds: [0.8] });
        const large = budget({ limit: 1000, window: '1h', policy: 'notify', thresholds: [0.8] });
        await ledger.charge([small, large], { tokens: 850 }); // small: 0.8 and exhausted; large: 0.8
        await ledger.credit(small, { tokens: 200 }); // large: limit 1200, 0.8 at 960 > 850
        events.length = 0;
        const [s, l] = await ledger.usage([small, large]);
        expect([s.limit, l.limit]).toEqual([300, 1200]);
        await ledger.charge([large], { tokens: 200 }); // 1050 >= 960
        await ledger.charge([large], { tokens: 200 }); // 1250 >= 1200
        const crossings = events.filter((e) => e.type === 'threshold' || e.type === 'exhausted');
        expect(
          crossings.map((e) => [
            e.type,
            (e as { used: number }).used,
            (e as { limit: number }).limit,
          ]),
        ).toEqual([
          ['threshold', 1050, 1200],
          ['exhausted', 1250, 1200],
        ]);
      });

      it('measures thresholds against the raised limit and re-arms the ones usage no longer reaches', async () => {
        const b = budget({ limit: 100, window: '1h', thresholds: [0.5] });
        await spend(b, 100); // 0.5 and exhaustion fire at 100
        await ledger.credit(b, { tokens: 100 }); // limit 200: 100 is still 0.5 of it, no longer exhausted
        await spend(b, 99);
        expect(of('exhausted')).toHaveLength(1);
        await spend(b, 1);
        const crossings = events.filter((e) => e.type === 'threshold' || e.type === 'exhausted');
        expect(
          crossings.map((e) => [
            e.type,
            (e as { used: number }).used,
            (e as { limit: number }).limit,
          ]),
        ).toEqual([
          ['threshold', 100, 100],
          ['exhausted', 100, 100],
          ['exhausted', 200, 200],
        ]);
      });

      it.each([
        [{ tokens: -5 }, 'Invalid tokens credit -5 for budget "user"'],
        [{ tokens: 0 }, 'Invalid tokens credit 0'],
        [{ tokens: 1.5 }, 'Invalid tokens credit 1.5'],
        [{ tokens: Number.NaN }, 'Invalid tokens credit NaN for budget "user"'],
        [{ tokens: Infinity }, 'Invalid tokens credit Infinity for budget "user"'],
        [{ tokens: -Infinity }, 'Invalid tokens credit -Infinity for budget "user"'],
        [{ tokens: '5' }, 'Invalid tokens credit "5" for budget "user"'],
        [{ usd: 1 }, 'it does not limit "usd" (it limits tokens)'],
        [{}, 'it grants nothing'],
      ])('refuses %j, naming it, and changes nothing', async (amounts, message) => {
        const b = budget({ limit: 100 });
        const attempt = ledger.credit(b, amounts as never);
        await expect(attempt).rejects.toThrow(TokencapConfigError);
        await expect(ledger.credit(b, amounts as never)).rejects.toThrow(message);
        expect((await ledger.usage([b]))[0].limit).toBe(100);
        expect(of('credit')).toEqual([]);
      });

      it('never lets calls in flight overshoot the raised limit', async () => {
        const b = budget({ limit: 1000, window: '1d' });
        const call = async () => {
          try {
            const r = await ledger.reserve([b], { base: { tokens: 50 } });
            await r.commit({ tokens: 50 });
            return 1;
          } catch (error) {
            if (error instanceof BudgetExceededError) return 0;
            throw error;
          }
        };
        const calls = Array.from({ length: 40 }, call);
        const credited = ledger.credit(b, { tokens: 500 });
        const more = Array.from({ length: 20 }, call);
        const done = (await Promise.all([...calls, ...more])).reduce<number>((a, n) => a + n, 0);
        await credited;
        const [usage] = await ledger.usage([b]);
        expect(usage.used).toBe(50 * done);
        expect(usage.used).toBeLessThanOrEqual(1500);
        expect(done).toBeGreaterThanOrEqual(20);
        expect(usage.reserved).toBe(0);
      });
    });

    describe('forecast', () => {
      it('fires once per window when the burn rate runs out before the window ends, with the rate and the time', async () => {
        const b = budget({ limit: 1000, window: '1h' });
        await spend(b, 100);
        now += 60_000;
        await spend(b, 100);
        now += 60_000;
        await spend(b, 100); // 300 in 120 s: 2.5 tokens/s, 700 left: 280 s more
        await settle();
        const expected: ForecastEvent = {
          type: 'forecast',
          scope: 'user',
          key: b.key,
          at: T0 + 120_000,
          dimension: 'tokens',
          used: 300,
          limit: 1000,
          rate: 2.5,
          projectedExhaustion: T0 + 400_000,
          windowEnd: T0 + 3_600_000,
        };
        expect(of('forecast')).toEqual([expected]);
        now += 60_000;
        await spend(b, 100);
        await settle();
        expect(of('forecast')).toHaveLength(1);
        const [usage] = await ledger.usage([b]);
        expect(usage.burnRate).toBeCloseTo(400 / 180, 9);
        expect(usage.projectedExhaustion).toBe(Math.ceil(now + 600 / (400 / 180_000)));
        // A new window: the rate starts again, and so does the forecast.
        now = T0 + 3_600_000;
        await spend(b, 500);
        now += 60_000;
        await spend(b, 1);
        now += 60_000;
        await spend(b, 1);
        await settle();
        expect(of('forecast')).toHaveLength(2);
        expect(of('forecast')[1]).toMatchObject({ used: 502, windowEnd: T0 + 7_200_000 });
      });

      it('is not fooled by one large call, nor by the rate of the last window', async () => {
        const b = budget({ limit: 1000, window: '1h' });
        await spend(b, 900);
        now += 30 * 60_000;
        let [usage] = await ledger.usage([b]);
        expect([usage.burnRate, usage.projectedExhaustion]).toEqual([null, null]);
        await spend(b, 1);
        await settle();
        expect(of('forecast')).toEqual([]);
        // Past the window, one call again makes no rate: it restarted with the window.
        now = T0 + 3_600_000 + 1_000;
        await spend(b, 10);
        [usage] = await ledger.usage([b]);
        expect(usage).toMatchObject({ used: 10, burnRate: null, projectedExhaustion: null });
        // Three calls in under a minute make no rate either.
        await spend(b, 10);
        now += 59_000;
        await spend(b, 10);
        await settle();
        expect((await ledger.usage([b]))[0].burnRate).toBeNull();
        expect(of('forecast')).toEqual([]);
      });

      it('counts only commits that used something toward its minimum of three', async () => {
        const b = budget({ limit: 1000, window: '1h' });
        await spend(b, 900);
        now += 2 * 60_000;
        for (let i = 0; i < 4; i++) {
          const reservation = await ledger.reserve([b], { base: { tokens: 10 } });
          await reservation.commit({ tokens: 0 });
        }
        await settle();
        const [usage] = await ledger.usage([b]);
        expect(usage).toMatchObject({ used: 900, burnRate: null, projectedExhaustion: null });
        expect(of('forecast')).toEqual([]);
        // Two more calls that use tokens make three: now there is a rate.
        await spend(b, 10);
        await spend(b, 10);
        expect((await ledger.usage([b]))[0].burnRate).toBeCloseTo(920 / 120, 9);
      });

      it('for a budget without a window, looks as far ahead as its forecastHorizon', async () => {
        const near = budget({ limit: 1000, forecastHorizon: '1h' });
        const far = defineBudget({
          scope: 'team',
          key: `${run}-t`,
          limit: 1000,
          forecastHorizon: '1m',
        });
        for (let i = 0; i < 3; i++) {
          if (i > 0) now += 60_000;
          await ledger.charge([near, far], { tokens: 100 });
        }
        await settle();
        expect(of('forecast')).toEqual([
          expect.objectContaining({
            scope: 'user',
            projectedExhaustion: T0 + 400_000,
            rate: 2.5,
            windowEnd: null,
          }),
        ]);
      });

      it('measures the rate from the first use in the window, for a ledger used in the window before too', async () => {
        const b = budget({ limit: 10_000, window: 'day' });
        now = iso('2026-03-01T10:00:00.000Z');
        await spend(b, 100);
        // The next day, idle until 01:00, then three commits of 1,000 a minute apart.
        for (let i = 0; i < 3; i++) {
          now = iso('2026-03-02T01:00:00.000Z') + i * 60_000;
          await spend(b, 1000);
        }
        await settle();
        // 3,000 tokens in the 2 minutes since its first use today (not the 62 since midnight).
        const [u] = await ledger.usage([b]);
        expect(u).toMatchObject({
          used: 3000,
          burnRate: 25,
          projectedExhaustion: iso('2026-03-02T01:06:40.000Z'),
        });
        expect(of('forecast')).toEqual([
          expect.objectContaining({ rate: 25, projectedExhaustion: u.projectedExhaustion }),
        ]);
      });

      it('after a reset, the rate starts again', async () => {
        const b = budget({ limit: 1000, window: '1d' });
        for (let i = 0; i < 3; i++) {
          now += 60_000;
          await spend(b, 100);
        }
        expect((await ledger.usage([b]))[0].burnRate).not.toBeNull();
        await ledger.reset(b);
        await spend(b, 100);
        expect((await ledger.usage([b]))[0]).toMatchObject({ used: 100, burnRate: null });
      });
    });
  });
}
