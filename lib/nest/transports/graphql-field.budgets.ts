import { type ExecutionContext, Injectable } from '@nestjs/common';
import type { Budget } from '../../core/budget.js';
import type { BudgetCall } from '../budget-request.context.js';

/** The part of graphql-js's `info.path` read here: a linked list from a field up to the root. */
interface ResponsePath {
  readonly prev: ResponsePath | undefined;
  readonly key: string | number;
}

/**
 * GraphQL runs a field resolver after the resolver of its parent object has returned, outside
 * anything that resolver ran in. So that a field resolver spends inside the budgets that produced
 * its parent (the GraphQL form of a lazy result), every budgeted resolver of an operation records
 * the budgets it opened under its response path, and a field resolver opens those of its nearest
 * recorded ancestor beneath its own. Per operation (the call of its GraphQL context), forgotten with
 * it. Field resolvers are reached only when the GraphQL module has
 * `fieldResolverEnhancers: ['interceptors']`.
 */
@Injectable()
export class GraphqlFieldBudgets {
  private readonly byCall = new WeakMap<BudgetCall, Map<string, readonly Budget[]>>();

  /**
   * The budgets a resolver of `context` runs in: its nearest recorded ancestor's, then `own`;
   * recorded for its descendants. Outside GraphQL, `own` as it is.
   */
  stack(call: BudgetCall, context: ExecutionContext, own: readonly Budget[]): readonly Budget[] {
    if (context.getType<string>() !== 'graphql') return own;
    const keys = pathKeys(context.getArgs()[3]);
    if (keys.length === 0) return own;
    let paths = this.byCall.get(call);
    let inherited: readonly Budget[] = [];
    for (let depth = keys.length - 1; paths && depth > 0; depth--) {
      const found = paths.get(keys.slice(0, depth).join('.'));
      if (found) {
        inherited = found;
        break;
      }
    }
    const stack = inherited.length === 0 ? own : [...inherited, ...own];
    if (stack.length > 0) {
      if (!paths) this.byCall.set(call, (paths = new Map()));
      paths.set(keys.join('.'), stack);
    }
    return stack;
  }
}

// Root first: ['chats', 0, 'summary'] for the `summary` of the first of `chats`.
function pathKeys(info: unknown): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let path = (info as { path?: ResponsePath } | null)?.path; path; path = path.prev) {
    keys.unshift(path.key);
  }
  return keys;
}
