import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { from, Observable, switchMap } from 'rxjs';
import type { Budget } from '../core/budget.js';
import { runWithBudgets } from '../core/budget-context.js';
import { Ledger } from '../core/ledger.js';
import { BUDGET_METADATA, type BudgetMetadata } from './budget.decorator.js';
import { type BudgetCall, BudgetRequestContext } from './budget-request.context.js';
import { BudgetResolver, isPromiseLike } from './budget.resolver.js';

/**
 * Registered by `TokencapModule` as an `APP_INTERCEPTOR`. Around every handler it records the
 * request (so budgeted provider methods can resolve their keys from it) and opens the handler's
 * `@Budget`s (its own, else its class's) with this app's ledger, for everything the handler awaits
 * or streams. Guards run before interceptors: code in a guard runs outside the budget.
 */
@Injectable()
export class BudgetInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly ledger: Ledger,
    private readonly requests: BudgetRequestContext,
    private readonly resolver: BudgetResolver,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request =
      context.getType() === 'http' ? context.switchToHttp().getRequest() : context.getArgs()[0];
    const call = this.requests.create(request, context);
    const metadata = this.reflector.getAllAndOverride<BudgetMetadata[] | undefined>(
      BUDGET_METADATA,
      [context.getHandler(), context.getClass()],
    );
    if (!metadata?.length) {
      return new Observable((subscriber) =>
        this.requests.run(call, () => next.handle().subscribe(subscriber)),
      );
    }
    const templates = this.resolver.compile(
      metadata,
      `${context.getClass().name}.${context.getHandler().name}`,
    );
    // Errors thrown while resolving keys (BudgetKeyMissingError) reach the subscriber as errors.
    return new Observable((subscriber) =>
      this.requests.run(call, () => {
        const budgets = this.resolver.resolve(templates, call);
        if (!isPromiseLike(budgets)) return this.handle(call, budgets, next).subscribe(subscriber);
        return from(budgets)
          .pipe(switchMap((resolved) => this.handle(call, resolved, next)))
          .subscribe(subscriber);
      }),
    );
  }

  // The handler is called and subscribed inside the frame; the inner subscription is returned so
  // unsubscribing (a client going away) tears the handler's stream down.
  private handle(
    call: BudgetCall,
    budgets: readonly Budget[],
    next: CallHandler,
  ): Observable<unknown> {
    return new Observable((subscriber) =>
      this.requests.run(call, () =>
        runWithBudgets(this.ledger, budgets, () => next.handle().subscribe(subscriber)),
      ),
    );
  }
}
