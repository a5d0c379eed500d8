import { Injectable } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../../lib/core/ledger.js';
import { BUDGET_METADATA, Budget } from '../../../lib/nest/budget.decorator.js';
import { BudgetRequestContext } from '../../../lib/nest/budget-request.context.js';
import { BudgetRunner } from '../../../lib/nest/budget.runner.js';
import { BudgetService } from '../../../lib/nest/budget.service.js';

// Canary: Nest injects constructor parameters from `design:paramtypes`. If the test transformer
// stops emitting decorator metadata, every e2e test fails obscurely; this one fails clearly.
describe('decorator metadata canary', () => {
  it('emits design:paramtypes for injectable constructors', () => {
    @Injectable()
    class Dependency {}
    @Injectable()
    class Consumer {
      constructor(readonly dependency: Dependency) {}
    }
    expect(Reflect.getMetadata('design:paramtypes', Consumer)).toEqual([Dependency]);
  });

  it("emits design:paramtypes for the library's own providers", () => {
    const types = Reflect.getMetadata('design:paramtypes', BudgetService) as unknown[];
    expect(types.slice(0, 3)).toEqual([Ledger, BudgetRunner, BudgetRequestContext]);
  });

  it('emits design:returntype for decorated methods (used to answer in the same shape)', () => {
    class Service {
      @Budget('task', 10)
      async run(): Promise<number> {
        return 1;
      }
    }
    expect(Reflect.getMetadata('design:returntype', Service.prototype, 'run')).toBe(Promise);
  });
});

describe('@Budget metadata', () => {
  it('stores declarations in reading order (outermost first) on the method', () => {
    class Service {
      @Budget('session', 1000, { window: '1h' })
      @Budget('task', { usd: 0.5 })
      run() {}
    }
    expect(Reflect.getMetadata(BUDGET_METADATA, Service.prototype.run)).toEqual([
      { scope: 'session', limit: 1000, options: { window: '1h' } },
      { scope: 'task', limit: { usd: 0.5 }, options: {} },
    ]);
  });

  it('stores class-level declarations on the class', () => {
    @Budget('global', 100)
    class Service {}
    expect(Reflect.getMetadata(BUDGET_METADATA, Service)).toEqual([
      { scope: 'global', limit: 100, options: {} },
    ]);
  });

  it('accepts degrade-only options without a policy (the module default may be degrade)', () => {
    expect(() => {
      class Service {
        @Budget('task', 100, { fallbackModel: 'gpt-4o-mini', degradeAt: 0.8 })
        run() {}
      }
      return Service;
    }).not.toThrow();
  });
});
