import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { from, identity, map, Observable, switchMap } from 'rxjs';
import type { Budget } from '../core/budget.js';
import { BudgetHeadersWriter } from './budget-headers.writer.js';
import { BudgetRequestContext } from './budget-request.context.js';
import { type BudgetTemplate, BudgetResolver, isPromiseLike } from './budget.resolver.js';
import { BudgetRunner } from './budget.runner.js';
import { answerRefusalsOf } from './http-error.reply.js';
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
    private readonly requests: BudgetRequestContext,
    private readonly resolver: BudgetResolver,
    private readonly runner: BudgetRunner,
    private readonly headers: BudgetHeadersWriter,
    private readonly fields: GraphqlFieldBudgets,
    private readonly adapterHost: HttpAdapterHost,
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
          this.runner
            .runIn(handlerCall, this.fields.stack(call, context, budgets), () => next.handle())
            // Only HTTP responses get RateLimit headers (a no-op for GraphQL, RPC and WebSockets).
            .pipe(this.headers.around(context, budgets));
        const budgets = templates.length > 0 ? this.resolver.resolve(templates, call) : [];
        if (!isPromiseLike(budgets)) return open(budgets).subscribe(subscriber);
        return from(budgets).pipe(switchMap(open)).subscribe(subscriber);
      }),
    ).pipe(budgetErrorsForTransport(context), this.filesOf(context));
  }

  /** Over HTTP, a `StreamableFile` answers a refusal raised while it is read with the filter's reply. */
  private filesOf(context: ExecutionContext) {
    if (context.getType() !== 'http') return identity;
    const adapter = this.adapterHost.httpAdapter;
    return map(<T>(value: T) => answerRefusalsOf(value, adapter, this.headers));
  }

  /**
   * The validated `@Budget`s of the handler of `context` (its own, else its class's); none when
   * it is skipped (`@SkipBudget()`, `skipIf`).
   */
  templatesOf(context: ExecutionContext): readonly BudgetTemplate[] {
    return this.resolver.forHandler(context);
  }
}
