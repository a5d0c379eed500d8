import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type BudgetDefinition, defineBudget } from '../../../lib/core/budget.js';
import { currentFrame, runWithBudgets, sameBudget } from '../../../lib/core/budget-context.js';
import { bindLazyResult, type FrameEntry } from '../../../lib/core/lazy-result.binder.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';

const ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
const open = () => currentFrame()?.budgets.map((b) => `${b.scope}:${b.key}/${b.limits.tokens}`);

describe('runWithBudgets: nested budgets', () => {
  it('opens an inner budget of the same scope and key when it differs in anything', () => {
    const outer = defineBudget({ scope: 'session', key: 'k', limit: 1000 });
    const variants: Partial<BudgetDefinition>[] = [
      { limit: 100 },
      { limit: { tokens: 1000, usd: 1 } },
      { window: '1h' },
      { policy: 'notify' },
      { thresholds: [0.5] },
      { ttl: '1m' },
      { maxReservation: 10 },
      { policy: 'degrade', fallbackModel: 'gpt-4o-mini' },
    ];
    for (const variant of variants) {
      const inner = defineBudget({ scope: 'session', key: 'k', limit: 1000, ...variant });
      expect(sameBudget(outer, inner)).toBe(false);
      const seen = runWithBudgets(ledger, [outer], () =>
        runWithBudgets(ledger, [inner], () => currentFrame()!.budgets),
      );
      expect(seen).toEqual([outer, inner]);
    }
  });

  it('does not open an identical declaration twice (property)', () => {
    const definitions = fc.record({
      scope: fc.constantFrom('session', 'user', 'request'),
      key: fc.string({ minLength: 1, maxLength: 8 }),
      limit: fc.integer({ min: 1, max: 10_000 }),
      window: fc.constantFrom(undefined, '1h', '1d'),
      thresholds: fc.constantFrom(undefined, [0.5], [0.8, 0.9]),
    });
    fc.assert(
      fc.property(definitions, (d) => {
        const def = Object.fromEntries(
          Object.entries(d).filter(([, v]) => v !== undefined),
        ) as unknown as BudgetDefinition;
        const a = defineBudget(def);
        const b = defineBudget({ ...def });
        expect(sameBudget(a, b)).toBe(true);
        const seen = runWithBudgets(ledger, [a], () => runWithBudgets(ledger, [b], open));
        expect(seen).toHaveLength(1);
      }),
    );
  });
});

describe('bindLazyResult', () => {
  const budget = defineBudget({ scope: 'job', key: 'j', limit: 10 });

  it('returns data as it is: the same object, never a wrapper (property)', () => {
    const enter: FrameEntry = (fn) => fn();
    fc.assert(
      fc.property(fc.anything({ withMap: true, withSet: true, withTypedArray: true }), (value) => {
        expect(bindLazyResult(value, enter)).toBe(value);
      }),
    );
    for (const value of [Buffer.from('x'), new Date(), /x/, new Error('e'), () => 1]) {
      expect(bindLazyResult(value, enter)).toBe(value);
    }
  });

  it('leaves a value alone when reading its properties throws', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('no reading');
        },
      },
    );
    expect(bindLazyResult(hostile, (fn) => fn())).toBe(hostile);
  });

  it('runs a generator inside the frame at every step, and leaks no frame to its consumer', async () => {
    const steps = runWithBudgets(ledger, [budget], async function* () {
      try {
        yield open();
        await new Promise((resolve) => setImmediate(resolve));
        yield open();
      } finally {
        finallySaw = open();
      }
    });
    let finallySaw: string[] | undefined;
    expect(currentFrame()).toBeUndefined();
    const seen: unknown[] = [];
    for await (const item of steps) {
      seen.push(item, open());
    }
    expect(seen).toEqual([['job:j/10'], undefined, ['job:j/10'], undefined]);
    expect(finallySaw).toEqual(['job:j/10']);
  });

  it('binds an iterable whose [Symbol.iterator] is a plain method (not a generator)', () => {
    class Pages {
      [Symbol.iterator]() {
        let page = 0;
        return {
          next: () =>
            page < 2 ? { value: [page++, open()], done: false } : { value: undefined, done: true },
        };
      }
    }
    const pages = runWithBudgets(ledger, [budget], () => new Pages());
    expect([...pages]).toEqual([
      [0, ['job:j/10']],
      [1, ['job:j/10']],
    ]);
    expect(currentFrame()).toBeUndefined();
  });

  it('leaves built-in collections alone: their iteration runs no user code', () => {
    const enter: FrameEntry = (fn) => fn();
    const values = [[1], new Map([[1, 2]]), new Set([1]), new Uint8Array(2), 'abc'];
    for (const value of values) expect(bindLazyResult(value, enter)).toBe(value);
  });

  it('a lazy result consumed inside another frame of the same ledger is charged to both', () => {
    const task = defineBudget({ scope: 'task', key: 't', limit: 1000 });
    const user = defineBudget({ scope: 'user', key: 'u', limit: 100 });
    const steps = runWithBudgets(ledger, [task], function* () {
      yield open();
    });
    const seen = runWithBudgets(ledger, [user], () => [...steps]);
    // The consumer's frame is the outer one.
    expect(seen).toEqual([['user:u/100', 'task:t/1000']]);
    // Consumed outside any frame, it keeps its own.
    const again = runWithBudgets(ledger, [task], function* () {
      yield open();
    });
    expect([...again]).toEqual([['task:t/1000']]);
  });

  it('binds a Node stream in place, keeping its identity', async () => {
    const source = Readable.from(
      (function* () {
        yield open()?.join() ?? 'none';
      })(),
    );
    const bound = runWithBudgets(ledger, [budget], () => source);
    expect(bound).toBe(source);
    const chunks: unknown[] = [];
    for await (const chunk of bound) chunks.push(chunk);
    expect(chunks).toEqual(['job:j/10']);
  });

  it('subscribes and unsubscribes an Observable inside the frame', () => {
    const seen: (string[] | undefined)[] = [];
    const source = new Observable<number>(() => {
      seen.push(open());
      return () => seen.push(open());
    });
    const bound = runWithBudgets(ledger, [budget], () => source);
    const subscription = bound.subscribe();
    subscription.unsubscribe();
    expect(seen).toEqual([['job:j/10'], ['job:j/10']]);
  });
});
