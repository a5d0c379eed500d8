import { Injectable } from '@nestjs/common';
import { from, isObservable, Observable, of, switchMap, throwError } from 'rxjs';
import type { Budget } from '../core/budget.js';
import { enterBudgets } from '../core/budget-context.js';
import { bindLazyResult, type FrameEntry } from '../core/lazy-result.binder.js';
import { Ledger } from '../core/ledger.js';
import { type BudgetCall, BudgetRequestContext } from './budget-request.context.js';
import { type BudgetTemplate, BudgetResolver, isPromiseLike } from './budget.resolver.js';

/**
 * What a budgeted method is declared to return (from `design:returntype`, or an `async` /
 * `async *` method). It only matters when a key resolves asynchronously, or resolving one fails:
 * the wrapper then answers in the same shape.
 */
export type ReturnKind = 'promise' | 'observable' | 'async-iterable' | 'unknown';

/**
 * Runs code inside budget frames of this app's {@link Ledger}, whatever the code returns: promises
 * keep the frame across every `await`, and lazy results (Observables, generators, streams) run
 * inside it whenever they are consumed (see `bindLazyResult`).
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
      const pending = budgets;
      if (kind === 'observable') {
        return from(pending).pipe(switchMap((b) => toObservable(this.runIn(call, b, fn))));
      }
      if (kind === 'async-iterable') {
        const runIn = (b: Budget[]) => this.runIn(call, b, fn) as AsyncIterable<unknown>;
        return (async function* () {
          return yield* runIn(await pending);
        })();
      }
      return pending.then((b) => this.runIn(call, b, fn));
    });
  }

  /**
   * Runs `fn` with `budgets` open on top of the enclosing frame of this ledger (and inside `call`),
   * and binds its result to that frame.
   */
  runIn<T>(call: BudgetCall | undefined, budgets: readonly Budget[], fn: () => T): T {
    const inFrame = enterBudgets(this.ledger, budgets);
    const enter: FrameEntry = call ? (f) => this.requests.run(call, () => inFrame(f)) : inFrame;
    return bindLazyResult(enter(fn), enter);
  }
}

/** `error` in the shape a method declared to return `kind` would fail with. */
export function failAs(kind: ReturnKind, error: unknown): unknown {
  if (kind === 'promise') return Promise.reject(error);
  if (kind === 'observable') return throwError(() => error);
  if (kind === 'async-iterable') {
    // The error surfaces on the first next(), as it would from an async generator method.
    return (async function* (): AsyncGenerator<never> {
      yield* [];
      throw error;
    })();
  }
  throw error;
}

function toObservable(value: unknown): Observable<unknown> {
  if (isObservable(value)) return value;
  return isPromiseLike(value) ? from(value) : of(value);
}
