import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { from, Observable, switchMap } from 'rxjs';
import type { Budget } from '../core/budget.js';
import { BUDGET_METADATA, type BudgetMetadata } from './budget.decorator.js';
import { BudgetRequestContext } from './budget-request.context.js';
import { type BudgetTemplate, BudgetResolver, isPromiseLike } from './budget.resolver.js';
import { BudgetRunner } from './budget.runner.js';
import { GraphqlFieldBudgets } from './transports/graphql-field.budgets.js';
import { budgetErrorsForTransport } from './transports/transport-errors.operator.js';

/**
 * Registered by `TokencapModule` as an `APP_INTERCEPTOR`. Around every handler it records the
 * request (so budgeted provider methods can resolve their keys from it) and opens the handler's
 * `@Budget`s (its own, else its class's) with this app's ledger, for everything the handler awaits,
 * streams or returns lazily (generators, streams, `StreamableFile`, Observables: see
 * `bindLazyResult`). Guards run before interceptors: code in a guard runs outside the budget
 * unless it uses `BudgetService.runFor()`.
 */
@Injectable()
export class BudgetInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly requests: BudgetRequestContext,
    private readonly resolver: BudgetResolver,
    private readonly runner: BudgetRunner,
    private readonly fields: GraphqlFieldBudgets,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const call = this.requests.forContext(context);
    const templates = this.templatesOf(context);
    const handlerCall = { ...call, opened: context.getHandler() };
    // The handler is called and subscribed inside the frame, and what it returns is bound to it;
    // the inner subscription is returned so unsubscribing (a client going away) tears it down.
    // Errors thrown while resolving keys (BudgetKeyMissingError) reach the subscriber as errors.
    return new Observable((subscriber) =>
      this.requests.run(call, () => {
        // A GraphQL field resolver runs inside the budgets of the resolver of its parent too.
        const open = (budgets: readonly Budget[]) =>
          this.runner.runIn(handlerCall, this.fields.stack(call, context, budgets), () =>
            next.handle(),
          );
        const budgets = templates.length > 0 ? this.resolver.resolve(templates, call) : [];
        if (!isPromiseLike(budgets)) return open(budgets).subscribe(subscriber);
        return from(budgets).pipe(switchMap(open)).subscribe(subscriber);
      }),
    ).pipe(budgetErrorsForTransport(context));
  }

  /** The validated `@Budget`s of the handler of `context` (its own, else its class's). */
  templatesOf(context: ExecutionContext): readonly BudgetTemplate[] {
    const metadata = this.reflector.getAllAndOverride<BudgetMetadata[] | undefined>(
      BUDGET_METADATA,
      [context.getHandler(), context.getClass()],
    );
    if (!metadata?.length) return [];
    return this.resolver.compile(
      metadata,
      `${context.getClass().name}.${context.getHandler().name}`,
    );
  }
}
