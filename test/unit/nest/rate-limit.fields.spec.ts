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
    policy: rateLimitPolicyField(budgets),
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
  return rateLimitFields([budget], [usageOf(budget, { used, reserved } as never)], now);
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
      usageOf(a, { used: {}, reserved: {} } as never),
      usageOf(b, { used: {}, reserved: {} } as never),
    ];
    expect(rateLimitFields([a, b], usage, 1000)).toEqual({
      policy: '"user";q=999999999999999;w=2, "user.2";q=5;w=86400',
      rateLimit: '"user";r=999999999999999;t=1, "user.2";r=5;t=86399',
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
});
