import type { ExecutionContext } from '@nestjs/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Budget } from '../../../../lib/core/budget.js';
import type { BudgetCall } from '../../../../lib/nest/budget-request.context.js';
import { GraphqlFieldBudgets } from '../../../../lib/nest/transports/graphql-field.budgets.js';

type Key = string | number;

function call(): BudgetCall {
  return { id: 'op', request: undefined, context: undefined, keys: new Map() };
}

/** A GraphQL resolver's context at `keys` (root first), as graphql-js lays out `info.path`. */
function fieldContext(keys: readonly Key[], type = 'graphql'): ExecutionContext {
  let path: { prev: unknown; key: Key } | undefined;
  for (const key of keys) path = { prev: path, key };
  return {
    getType: () => type,
    getArgs: () => [undefined, {}, {}, { path }],
  } as unknown as ExecutionContext;
}

const budget = (name: string) => ({ id: name }) as unknown as Budget;

describe('GraphqlFieldBudgets', () => {
  it('a field runs inside the budgets recorded at its nearest ancestor, then its own', () => {
    const pathArb = fc.array(fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.nat(2)), {
      minLength: 1,
      maxLength: 5,
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(pathArb, fc.boolean()), { minLength: 1, maxLength: 25 }),
        (fields) => {
          const fieldBudgets = new GraphqlFieldBudgets();
          const op = call();
          // The reference: every stack recorded so far, by path.
          const recorded = new Map<string, readonly Budget[]>();
          fields.forEach(([keys, hasOwn], i) => {
            const own = hasOwn ? [budget(`own${i}`)] : [];
            let inherited: readonly Budget[] = [];
            for (let depth = keys.length - 1; depth > 0; depth--) {
              const found = recorded.get(keys.slice(0, depth).join('.'));
              if (found) {
                inherited = found;
                break;
              }
            }
            const expected = [...inherited, ...own];
            expect(fieldBudgets.stack(op, fieldContext(keys), own)).toEqual(expected);
            if (expected.length > 0) recorded.set(keys.join('.'), expected);
          });
        },
      ),
    );
  });

  it('operations and transports do not share what was recorded', () => {
    const fieldBudgets = new GraphqlFieldBudgets();
    const first = call();
    const parent = [budget('session')];
    expect(fieldBudgets.stack(first, fieldContext(['chat']), parent)).toBe(parent);
    expect(fieldBudgets.stack(first, fieldContext(['chat', 'summary']), [])).toEqual(parent);
    // Another operation with the same path inherits nothing.
    expect(fieldBudgets.stack(call(), fieldContext(['chat', 'summary']), [])).toEqual([]);
    // HTTP, ws and rpc handlers get their own budgets as they are.
    const own = [budget('user')];
    expect(fieldBudgets.stack(first, fieldContext(['chat', 'summary'], 'http'), own)).toBe(own);
  });
});
