import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { TokencapConfigError } from '../../../lib/errors.js';
import { budgetMiddleware, budgetNearlySpent } from '../../../lib/frameworks/ai-sdk/index.js';

// Option checks and the stop condition's decisions; they need neither `ai` nor a provider package.
describe('budgetMiddleware options', () => {
  it('refuses a fallback model that is not a language model, naming it', () => {
    expect(() =>
      budgetMiddleware({ fallbackModels: { 'gpt-4o-mini': 'gpt-4o-mini' as never } }),
    ).toThrow(
      new TokencapConfigError(
        `Invalid fallbackModels["gpt-4o-mini"] of budgetMiddleware: expected a language model (openai('…'), anthropic('…'), …).`,
      ),
    );
  });

  it('checks the options every wrapper takes, naming the middleware', () => {
    expect(() => budgetMiddleware({ defaultMaxOutputTokens: 0 })).toThrow(
      'Invalid defaultMaxOutputTokens 0 of budgetMiddleware: expected a positive whole number.',
    );
    expect(() =>
      budgetMiddleware({ budgets: [defineBudget({ scope: 's', key: 'k', limit: 1 })] }),
    ).toThrow('The budgets option of budgetMiddleware needs a ledger option to charge them.');
  });
});

describe('budgetNearlySpent', () => {
  const steps = (totalTokens: number) => ({ steps: [{ usage: { totalTokens } }] });

  it('refuses a fraction outside (0, 1], naming it', () => {
    // Non-finite numbers are named as written (NaN, not JSON's null); strings keep their quotes.
    const named: [unknown, string][] = [
      [0, '0'],
      [-0.5, '-0.5'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
      ['0.5', '"0.5"'],
    ];
    for (const [fraction, name] of named) {
      expect(() => budgetNearlySpent({ fraction: fraction as number })).toThrow(
        new TokencapConfigError(
          `Invalid fraction ${name} of budgetNearlySpent: expected a number in (0, 1].`,
        ),
      );
    }
  });

  it('never stops a loop outside a budget context without budgets of its own', async () => {
    expect(await budgetNearlySpent()(steps(1_000_000))).toBe(false);
  });

  it('stops exactly when used + reserved reaches fraction × limit, or less is left than the last step took', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 100_000 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 200_000 }),
        async (limit, fraction, share, lastStep) => {
          const ledger = new Ledger();
          const budget = defineBudget({ scope: 'task', key: 'k', limit });
          const used = Math.floor(share * limit);
          if (used > 0) await ledger.charge([budget], { tokens: used });
          const stop = await runWithBudgets(ledger, [budget], () =>
            budgetNearlySpent({ fraction })(steps(lastStep)),
          );
          expect(stop).toBe(used >= fraction * limit || limit - used < lastStep);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads only hard-stop budgets: a notify budget past its limit does not end the loop', async () => {
    const ledger = new Ledger();
    const notify = defineBudget({ scope: 'audit', key: 'k', limit: 100, policy: 'notify' });
    await ledger.charge([notify], { tokens: 500 });
    expect(await runWithBudgets(ledger, [notify], () => budgetNearlySpent()(steps(10)))).toBe(
      false,
    );
  });

  it('checks its own ledger and budgets outside a context', async () => {
    const ledger = new Ledger();
    const budget = defineBudget({ scope: 'app', key: 'k', limit: 1_000 });
    const stop = budgetNearlySpent({ ledger, budgets: [budget] });
    expect(await stop(steps(10))).toBe(false);
    await ledger.charge([budget], { tokens: 950 });
    expect(await stop(steps(10))).toBe(true);
    expect(() => budgetNearlySpent({ budgets: [budget] })).toThrow(
      'The budgets option of budgetNearlySpent needs a ledger option.',
    );
  });

  it('stops the loop when the store cannot be read (fails closed)', async () => {
    class DownStore extends MemoryLedgerStore {
      override snapshot(): never {
        throw new Error('store down');
      }
      // Usage reads go through inspect() when a store has it.
      override inspect(): never {
        throw new Error('store down');
      }
    }
    const ledger = new Ledger({ store: new DownStore() });
    const budget = defineBudget({ scope: 'task', key: 'k', limit: 1_000 });
    expect(await runWithBudgets(ledger, [budget], () => budgetNearlySpent()(steps(1)))).toBe(true);
  });
});
