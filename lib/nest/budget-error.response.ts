import { HttpStatus } from '@nestjs/common';
import {
  BudgetExceededError,
  BudgetKeyMissingError,
  StoreUnavailableError,
  type TokencapError,
  TokencapRequestError,
} from '../errors.js';

/** The JSON body of a refused call (HTTP 429). Carries the refused budget's numbers, never its key. */
export interface BudgetExceededBody {
  statusCode: 429;
  error: 'Budget Exceeded';
  message: string;
  scope: string;
  limit: number;
  used: number;
}

/** The JSON body of a call whose scope resolver returned no key (HTTP 400). */
export interface BudgetKeyMissingBody {
  statusCode: 400;
  error: 'Bad Request';
  message: string;
  scope: string;
}

/**
 * The JSON body of a call whose LLM request Tokencap refused as the caller's fault (HTTP 400):
 * `parameter` names the request field, the message quotes its value (cut to 64 characters).
 */
export interface TokencapRequestErrorBody {
  statusCode: 400;
  error: 'Bad Request';
  message: string;
  parameter: string;
}

/** The JSON body of a call refused because the store is down in `fail-closed` mode (HTTP 503). */
export interface StoreUnavailableBody {
  statusCode: 503;
  error: 'Service Unavailable';
  message: string;
}

/**
 * The body Nest's own exception filter gives any error that is not an `HttpException` (HTTP 500),
 * and so what a Tokencap error without a status of its own is answered with: a programming error
 * (`UnmeteredCallError`, `TokencapConfigError`), not the client's fault nor a passing outage.
 */
export interface InternalServerErrorBody {
  statusCode: 500;
  message: 'Internal server error';
}

/** The errors the module's exception filter maps to a status of their own. */
export type BudgetHttpError =
  BudgetExceededError | BudgetKeyMissingError | StoreUnavailableError | TokencapRequestError;

// The body of each BudgetHttpError.
type BudgetErrorBody =
  BudgetExceededBody | BudgetKeyMissingBody | StoreUnavailableBody | TokencapRequestErrorBody;

/**
 * One entry of {@link HTTP_ANSWERS}: the error class, and the body of an error of that class (or
 * `undefined` for any other error).
 */
interface HttpAnswer {
  readonly type: abstract new (...args: never[]) => BudgetHttpError;
  readonly bodyOf: (error: unknown) => BudgetErrorBody | undefined;
}

function answer<E extends BudgetHttpError>(
  type: abstract new (...args: never[]) => E,
  body: (error: E) => BudgetErrorBody,
): HttpAnswer {
  return { type, bodyOf: (error) => (error instanceof type ? body(error) : undefined) };
}

// The one HTTP mapping: budgetErrorResponse answers from it and the module's filter catches exactly
// its classes, so every other error is left to Nest's own filter, which answers it with the same
// 500 budgetErrorResponse gives (and logs it, as a programming error should be).
const HTTP_ANSWERS: readonly HttpAnswer[] = [
  answer(BudgetExceededError, (error): BudgetExceededBody => {
    const unit = error.dimension === 'usd' ? 'USD' : error.dimension;
    const fmt = (n: number) =>
      error.dimension === 'usd' ? n.toFixed(6).replace(/\.?0+$/, '') : String(n);
    const remaining = Math.max(0, error.limit - error.used - error.reserved);
    return {
      statusCode: HttpStatus.TOO_MANY_REQUESTS,
      error: 'Budget Exceeded',
      // Built here rather than taken from error.message, which names the budget's key.
      message:
        `Budget "${error.scope}" exceeded: the call needs ${fmt(error.requested)} ${unit}, ` +
        `${fmt(remaining)} of ${fmt(error.limit)} ${unit} remain.`,
      scope: error.scope,
      limit: error.limit,
      used: error.used,
    };
  }),
  answer(BudgetKeyMissingError, (error): BudgetKeyMissingBody => ({
    statusCode: HttpStatus.BAD_REQUEST,
    error: 'Bad Request',
    message: error.message,
    scope: error.scope,
  })),
  answer(TokencapRequestError, (error): TokencapRequestErrorBody => ({
    statusCode: HttpStatus.BAD_REQUEST,
    error: 'Bad Request',
    message: error.message,
    parameter: error.parameter,
  })),
  // The store's own message may name hosts or credentials: it goes to the logs, not to clients.
  answer(StoreUnavailableError, (): StoreUnavailableBody => ({
    statusCode: HttpStatus.SERVICE_UNAVAILABLE,
    error: 'Service Unavailable',
    message: 'The budget store is unavailable, so the call was refused. Try again later.',
  })),
];

/** Whether `error` is one the module's filter answers with a status of its own. */
export function isBudgetHttpError(error: unknown): error is BudgetHttpError {
  return HTTP_ANSWERS.some(({ type }) => error instanceof type);
}

/**
 * The HTTP status and body for a Tokencap error, for apps whose own catch-all filter handles
 * errors before the module's exception filter gets them: the same answer the module gives. An
 * error with no status of its own (`UnmeteredCallError`, `TokencapConfigError`, a plain
 * `TokencapError`) gets Nest's answer to any unknown error, a 500 {@link InternalServerErrorBody}.
 */
export function budgetErrorResponse(
  error: BudgetHttpError,
): BudgetExceededBody | BudgetKeyMissingBody | StoreUnavailableBody | TokencapRequestErrorBody;
export function budgetErrorResponse(
  error: TokencapError,
):
  | BudgetExceededBody
  | BudgetKeyMissingBody
  | StoreUnavailableBody
  | TokencapRequestErrorBody
  | InternalServerErrorBody;
export function budgetErrorResponse(
  error: TokencapError,
): BudgetErrorBody | InternalServerErrorBody {
  for (const { bodyOf } of HTTP_ANSWERS) {
    const body = bodyOf(error);
    if (body) return body;
  }
  return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
}

/** The error classes the module's exception filter catches: those of the one mapping above. */
export const BUDGET_HTTP_ERROR_TYPES = HTTP_ANSWERS.map(({ type }) => type);
