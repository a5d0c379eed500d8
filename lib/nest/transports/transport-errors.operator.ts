import type { ExecutionContext } from '@nestjs/common';
import { catchError, EMPTY, type MonoTypeOperatorFunction, pipe, throwError } from 'rxjs';
import { BudgetExceededError, BudgetKeyMissingError, StoreUnavailableError } from '../../errors.js';
import { type BudgetHttpError, budgetErrorResponse } from '../budget-exception.filter.js';
import { BudgetGraphQLError, replyOverTransport } from './transport-error.replies.js';

/**
 * Answers a Tokencap error where the interceptor sees it, for the transports whose exception
 * filters cannot be relied on to:
 * - `graphql`: filters reach field resolvers only when the GraphQL module's
 *   `fieldResolverEnhancers` include `filters`; without this a refusal would reach the client as
 *   an `INTERNAL_SERVER_ERROR` whose message names the budget's key. It becomes a
 *   {@link BudgetGraphQLError} instead.
 * - `ws`: Nest applies no global filter to gateways, so the module's filter never runs there; the
 *   `exception` event is emitted here and the message ends without a reply (the connection stays up).
 * Other transports: unchanged (the module's filter answers them).
 */
export function budgetErrorsForTransport<T>(
  context: ExecutionContext,
): MonoTypeOperatorFunction<T> {
  switch (context.getType<string>()) {
    case 'graphql':
      return catchError((error: unknown) =>
        throwError(() =>
          isBudgetError(error) ? new BudgetGraphQLError(budgetErrorResponse(error), error) : error,
        ),
      );
    case 'ws':
      return catchError((error: unknown) => {
        if (!isBudgetError(error)) return throwError(() => error);
        replyOverTransport(error, budgetErrorResponse(error), context);
        return EMPTY;
      });
    default:
      return pipe();
  }
}

function isBudgetError(error: unknown): error is BudgetHttpError {
  return (
    error instanceof BudgetExceededError ||
    error instanceof BudgetKeyMissingError ||
    error instanceof StoreUnavailableError
  );
}
