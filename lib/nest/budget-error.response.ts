import { HttpStatus } from '@nestjs/common';
import {
  BudgetExceededError,
  BudgetKeyMissingError,
  StoreUnavailableError,
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

/** The errors the module's exception filter maps. */
export type BudgetHttpError =
  BudgetExceededError | BudgetKeyMissingError | StoreUnavailableError | TokencapRequestError;

/**
 * The HTTP status and body for a Tokencap error, for apps whose own catch-all filter handles
 * errors before the module's exception filter gets them.
 */
export function budgetErrorResponse(
  error: BudgetHttpError,
): BudgetExceededBody | BudgetKeyMissingBody | StoreUnavailableBody | TokencapRequestErrorBody {
  if (error instanceof BudgetExceededError) {
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
  }
  if (error instanceof BudgetKeyMissingError) {
    return {
      statusCode: HttpStatus.BAD_REQUEST,
      error: 'Bad Request',
      message: error.message,
      scope: error.scope,
    };
  }
  if (error instanceof TokencapRequestError) {
    return {
      statusCode: HttpStatus.BAD_REQUEST,
      error: 'Bad Request',
      message: error.message,
      parameter: error.parameter,
    };
  }
  // The store's own message may name hosts or credentials: it goes to the logs, not to clients.
  return {
    statusCode: HttpStatus.SERVICE_UNAVAILABLE,
    error: 'Service Unavailable',
    message: 'The budget store is unavailable, so the call was refused. Try again later.',
  };
}
