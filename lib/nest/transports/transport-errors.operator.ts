import type { ExecutionContext } from '@nestjs/common';
import {
  catchError,
  EMPTY,
  type MonoTypeOperatorFunction,
  type Observable,
  pipe,
  throwError,
} from 'rxjs';
import { BudgetExceededError, BudgetKeyMissingError, StoreUnavailableError } from '../../errors.js';
import {
  type BudgetHttpError,
  budgetErrorResponse,
  isBudgetHttpError,
} from '../budget-error.response.js';
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
 * Every transport: a Tokencap error wrapped in another error's `cause` chain is unwrapped first
 * (see {@link tokencapErrorIn}). Other transports are then answered by the module's filter.
 */
export function budgetErrorsForTransport<T>(
  context: ExecutionContext,
): MonoTypeOperatorFunction<T> {
  return pipe(catchError(unwrapTokencapError), byTransport(context));
}

/**
 * An SDK helper may wrap a refusal (the OpenAI SDK's stream helpers reject with an `OpenAIError`
 * whose `cause` is the `BudgetExceededError`): the Tokencap error found in the `cause` chain is
 * rethrown, so it is answered as a refusal (429, `BUDGET_EXCEEDED`), not as a 500 whose message
 * may name the budget's key. The depth is bounded: a `cause` cycle ends the search.
 */
export function tokencapErrorIn(error: unknown): BudgetHttpError | undefined {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth++) {
    if (isBudgetHttpError(current)) return current;
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const MAX_CAUSE_DEPTH = 8;

function unwrapTokencapError(error: unknown): Observable<never> {
  return throwError(() => tokencapErrorIn(error) ?? error);
}

function byTransport<T>(context: ExecutionContext): MonoTypeOperatorFunction<T> {
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
