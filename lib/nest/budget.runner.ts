import { Injectable } from '@nestjs/common';
import { from, isObservable, Observable, of, switchMap, throwError } from 'rxjs';
import type { Budget } from '../core/budget.js';
import { runWithBudgets } from '../core/budget-context.js';
import { Ledger } from '../core/ledger.js';
import { type BudgetCall, BudgetRequestContext } from './budget-request.context.js';
import { type BudgetTemplate, BudgetResolver, isPromiseLike } from './budget.resolver.js';

/**
 * What a budgeted method is declared to return (from `design:returntype`). It only matters when a
 * key resolves asynchronously, or resolving one fails: the wrapper then answers in the same shape.
 */
export type ReturnKind = 'promise' | 'observable' | 'unknown';

/**
 * Runs code inside budget frames of this app's {@link Ledger}, whatever the code returns:
 * promises keep the frame across every `await`, and observables are subscribed inside it.
 */
@Injectable()
export class BudgetRunner {
  constructor(
    private readonly ledger: Ledger,
    private readonly requests: BudgetRequestContext,
    private readonly resolver: BudgetResolver,
  ) {}

  /**
   * Calls `fn` with the budgets of `templates` open. Inside a request, keys come from it; outside
   * one, a call is opened so nested budgeted methods share its `request` budget and keys.
   */
  invoke(templates: readonly BudgetTemplate[], fn: () => unknown, kind: ReturnKind): unknown {
    const call = this.requests.current() ?? this.requests.create(undefined, undefined);
    return this.requests.run(call, () => {
      let budgets: Budget[] | Promise<Budget[]>;
      try {
        budgets = this.resolver.resolve(templates, call);
      } catch (error) {
        return failAs(kind, error);
      }
      if (!isPromiseLike(budgets)) return this.runIn(call, budgets, fn);
      if (kind === 'observable') {
        return from(budgets).pipe(switchMap((b) => toObservable(this.runIn(call, b, fn))));
      }
      return budgets.then((b) => this.runIn(call, b, fn));
    });
  }

  /**
   * Runs `fn` with `budgets` open on top of the enclosing frame of this ledger. An Observable result
   * is returned as one that subscribes the original inside the same frame (teardown propagates).
   */
  runIn<T>(call: BudgetCall | undefined, budgets: readonly Budget[], fn: () => T): T {
    const enter = <R>(f: () => R): R => {
      const inFrame = () => runWithBudgets(this.ledger, budgets, f);
      return call ? this.requests.run(call, inFrame) : inFrame();
    };
    const result = enter(fn);
    if (!isObservable(result)) return result;
    return new Observable((subscriber) => enter(() => result.subscribe(subscriber))) as T;
  }
}

function failAs(kind: ReturnKind, error: unknown): unknown {
  if (kind === 'promise') return Promise.reject(error);
  if (kind === 'observable') return throwError(() => error);
  throw error;
}

function toObservable(value: unknown): Observable<unknown> {
  if (isObservable(value)) return value;
  return isPromiseLike(value) ? from(value) : of(value);
}
