import { type ArgumentsHost, Catch, type ExceptionFilter, HttpStatus } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { BudgetExceededError, BudgetKeyMissingError, StoreUnavailableError } from '../errors.js';
import { replyOverTransport } from './transports/transport-error.replies.js';

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

/** The JSON body of a call refused because the store is down in `fail-closed` mode (HTTP 503). */
export interface StoreUnavailableBody {
  statusCode: 503;
  error: 'Service Unavailable';
  message: string;
}

/** The errors the module's exception filter maps. */
export type BudgetHttpError = BudgetExceededError | BudgetKeyMissingError | StoreUnavailableError;

/**
 * The HTTP status and body for a Tokencap error, for apps whose own catch-all filter handles
 * errors before the module's exception filter gets them.
 */
export function budgetErrorResponse(
  error: BudgetHttpError,
): BudgetExceededBody | BudgetKeyMissingBody | StoreUnavailableBody {
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
  // The store's own message may name hosts or credentials: it goes to the logs, not to clients.
  return {
    statusCode: HttpStatus.SERVICE_UNAVAILABLE,
    error: 'Service Unavailable',
    message: 'The budget store is unavailable, so the call was refused. Try again later.',
  };
}

/**
 * Registered by `TokencapModule` as an `APP_FILTER`. Over HTTP it answers a refused call with
 * 429, a missing budget key with 400 and an unreachable store with 503 (see
 * {@link budgetErrorResponse}). GraphQL, WebSocket and RPC handlers get the same body in their
 * transport's error shape (see `replyOverTransport`).
 */
@Catch(BudgetExceededError, BudgetKeyMissingError, StoreUnavailableError)
export class BudgetExceptionFilter implements ExceptionFilter<BudgetHttpError> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: BudgetHttpError, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() !== 'http') {
      return replyOverTransport(error, budgetErrorResponse(error), host);
    }
    const adapter = this.adapterHost.httpAdapter;
    const response: unknown = host.switchToHttp().getResponse();
    if (adapter.isHeadersSent(response)) {
      // A stream refused mid-way: the status is gone already, so end the response.
      adapter.end(response);
      return;
    }
    const body = budgetErrorResponse(error);
    adapter.reply(response, body, body.statusCode);
  }
}
