import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { usageOf } from '../../../lib/core/ledger.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import {
  rateLimitField,
  rateLimitPolicyField,
  retryAfterSeconds,
} from '../../../lib/nest/rate-limit.fields.js';
import type { Budget } from '../../../lib/core/budget.js';
import type { BudgetUsage } from '../../../lib/core/events.js';

function rateLimitFields(budgets: Budget[], usages: BudgetUsage[], now: number) {
  return {
    policy: rateLimitPolicyField(budgets, now),
    rateLimit: rateLimitField(budgets, usages, now),
  };
}

const HOUR = 3_600_000;

// One budget's fields, from its limit, committed and reserved usage (store units).
function fieldsOf(
  definition: Parameters<typeof defineBudget>[0],
  used: Record<string, number>,
  reserved: Record<string, number>,
  now: number,
) {
  const budget = defineBudget(definition);
  return rateLimitFields([budget], [usageOf(budget, { used, reserved } as never, now)], now);
}

describe('rateLimitPolicyField and rateLimitField', () => {
  it('r is what is left after committed and reserved usage, never below 0; t counts to the window end', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.nat(20_000_000),
        fc.nat(20_000_000),
        fc.integer({ min: 0, max: 10 * HOUR }),
        (limit, used, reserved, now) => {
          const { policy, rateLimit } = fieldsOf(
            { scope: 'session', key: 'k', limit, window: '1h' },
            { tokens: used },
            { tokens: reserved },
            now,
          );
          const end = (Math.floor(now / HOUR) + 1) * HOUR;
          expect(policy).toBe(`"session";q=${limit};w=3600`);
          expect(rateLimit).toBe(
            `"session";r=${Math.max(0, limit - used - reserved)};t=${Math.ceil((end - now) / 1000)}`,
          );
        },
      ),
    );
  });

  it('reports a dollar budget in micro-dollars and a request budget in requests, tokens first', () => {
    expect(fieldsOf({ scope: 'user', key: 'u', limit: { usd: 2.5 } }, { usd: 1 }, {}, 0)).toEqual({
      policy: '"user";q=2500000',
      rateLimit: '"user";r=2499999',
    });
    expect(
      fieldsOf({ scope: 'user', key: 'u', limit: { requests: 10, usd: 1 } }, { usd: 1 }, {}, 0)
        .policy,
    ).toBe('"user";q=1000000');
    expect(
      fieldsOf({ scope: 'user', key: 'u', limit: { requests: 10, tokens: 7 } }, {}, {}, 0).policy,
    ).toBe('"user";q=7');
  });

  it('names a scope open twice apart, rounds a window up to whole seconds and caps at 15 digits', () => {
    const a = defineBudget({ scope: 'user', key: 'u', limit: 1e15, window: 1500 });
    const b = defineBudget({ scope: 'user', key: 'u', limit: 5, window: '1d' });
    const usage = [
      usageOf(a, { used: {}, reserved: {} } as never, 1000),
      usageOf(b, { used: {}, reserved: {} } as never, 1000),
    ];
    expect(rateLimitFields([a, b], usage, 1000)).toEqual({
      policy: '"user";q=999999999999999;w=2, "user.2";q=5;w=86400',
      rateLimit: '"user";r=999999999999999;t=1, "user.2";r=5;t=86399',
    });
  });

  it('a calendar month says its own length in w and counts t to the first of the next month (UTC)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }),
        (now) => {
          const d = new Date(now);
          const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
          const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
          const { policy, rateLimit } = fieldsOf(
            { scope: 'tenant', key: 't', limit: 1000, window: 'month' },
            { tokens: 10 },
            {},
            now,
          );
          expect(policy).toBe(`"tenant";q=1000;w=${(end - start) / 1000}`);
          expect(rateLimit).toBe(`"tenant";r=990;t=${Math.ceil((end - now) / 1000)}`);
        },
      ),
    );
  });

  it('a calendar day across a DST change in its time zone lasts 23 or 25 hours', () => {
    const berlinDay = (now: number) =>
      fieldsOf(
        { scope: 'user', key: 'u', limit: 50, window: 'day', timeZone: 'Europe/Berlin' },
        {},
        {},
        now,
      );
    // 2026-03-29 (clocks go forward at 02:00 CET) and 2026-10-25 (back at 03:00 CEST), at noon UTC.
    expect(berlinDay(Date.UTC(2026, 2, 29, 12))).toEqual({
      policy: '"user";q=50;w=82800',
      // Midnight of 2026-03-30 in Berlin is 22:00 UTC on the 29th.
      rateLimit: `"user";r=50;t=${10 * 3600}`,
    });
    expect(berlinDay(Date.UTC(2026, 9, 25, 12))).toEqual({
      policy: '"user";q=50;w=90000',
      // Midnight of 2026-10-26 in Berlin is 23:00 UTC on the 25th.
      rateLimit: `"user";r=50;t=${11 * 3600}`,
    });
  });
});

describe('retryAfterSeconds', () => {
  const refusal = (over: Partial<ConstructorParameters<typeof BudgetExceededError>[0]>) =>
    new BudgetExceededError({
      scope: 'session',
      key: 'k',
      dimension: 'tokens',
      limit: 1000,
      used: 900,
      reserved: 0,
      requested: 200,
      policy: 'hard-stop',
      ...over,
    });

  it('counts whole seconds, at least 1, to the end of the refusing budget’s window', () => {
    expect(retryAfterSeconds(refusal({ resetsAt: 10_000 }), 8_500)).toBe(2);
    expect(retryAfterSeconds(refusal({ resetsAt: 10_000 }), 9_999)).toBe(1);
    expect(retryAfterSeconds(refusal({ resetsAt: 10_000 }), 10_000)).toBe(1);
  });

  it('is absent when waiting cannot help: no window, or a hard-stop call larger than the limit', () => {
    expect(retryAfterSeconds(refusal({}), 0)).toBeUndefined();
    expect(retryAfterSeconds(refusal({ resetsAt: 10_000, requested: 1001 }), 0)).toBeUndefined();
    // Under degrade, a call is let through while usage is under the limit, whatever its size.
    expect(
      retryAfterSeconds(refusal({ resetsAt: 10_000, requested: 1001, policy: 'degrade' }), 0),
    ).toBe(10);
  });
});

describe('BudgetExceededError.resetsAt', () => {
  it('is set by the ledger from the refusing budget’s window, and absent for a lifetime budget', async () => {
    const { Ledger } = await import('../../../lib/core/ledger.js');
    const { MemoryLedgerStore } = await import('../../../lib/core/memory-ledger.store.js');
    const ledger = new Ledger({
      store: new MemoryLedgerStore({ sweepInterval: false }),
      clock: () => 5 * HOUR + 123,
    });
    const windowed = defineBudget({ scope: 's', key: 'k', limit: 10, window: '1h' });
    const lifetime = defineBudget({ scope: 'l', key: 'k', limit: 10 });
    const refusedBy = async (budget: typeof windowed) => {
      try {
        await ledger.reserve([budget], { base: { tokens: 11 } });
      } catch (error) {
        return error as BudgetExceededError;
      }
      throw new Error('not refused');
    };
    expect((await refusedBy(windowed)).resetsAt).toBe(6 * HOUR);
    expect((await refusedBy(lifetime)).resetsAt).toBeUndefined();
    await ledger.close();
  });
  it('of a calendar window is the end of its month, and Retry-After counts to it', async () => {
    const { Ledger } = await import('../../../lib/core/ledger.js');
    const { MemoryLedgerStore } = await import('../../../lib/core/memory-ledger.store.js');
    const now = Date.UTC(2026, 1, 10, 6);
    const ledger = new Ledger({
      store: new MemoryLedgerStore({ sweepInterval: false }),
      clock: () => now,
    });
    const monthly = defineBudget({ scope: 'm', key: 'k', limit: 10, window: 'month' });
    const error = await ledger.reserve([monthly], { base: { tokens: 1 } }).then(async () => {
      try {
        await ledger.reserve([monthly], { base: { tokens: 10 } });
      } catch (e) {
        return e as BudgetExceededError;
      }
      throw new Error('not refused');
    });
    expect(error.resetsAt).toBe(Date.UTC(2026, 2, 1));
    expect(retryAfterSeconds(error, now)).toBe((Date.UTC(2026, 2, 1) - now) / 1000);
    await ledger.close();
  });
});
