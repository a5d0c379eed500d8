import type { ExecutionContext } from '@nestjs/common';
import { catchError, type MonoTypeOperatorFunction, pipe, throwError } from 'rxjs';
import { BudgetExceededError, BudgetKeyMissingError, StoreUnavailableError } from '../../errors.js';
import { budgetErrorResponse } from '../budget-exception.filter.js';
import { BudgetGraphQLError } from './transport-error.replies.js';

/**
 * For a GraphQL resolver, turns a Tokencap error into a {@link BudgetGraphQLError} where the
 * interceptor sees it. Exception filters reach field resolvers only when the GraphQL module's
 * `fieldResolverEnhancers` include `filters`; without this, a refusal would reach the client as an
 * `INTERNAL_SERVER_ERROR` whose message names the budget's key. Other transports: unchanged.
 */
export function budgetErrorsForTransport<T>(
  context: ExecutionContext,
): MonoTypeOperatorFunction<T> {
  if (context.getType<string>() !== 'graphql') return pipe();
  return catchError((error: unknown) =>
    throwError(() =>
      error instanceof BudgetExceededError ||
      error instanceof BudgetKeyMissingError ||
      error instanceof StoreUnavailableError
        ? new BudgetGraphQLError(budgetErrorResponse(error), error)
        : error,
    ),
  );
}
