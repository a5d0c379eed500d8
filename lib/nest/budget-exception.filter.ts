import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Observable } from 'rxjs';
import {
  BUDGET_HTTP_ERROR_TYPES,
  type BudgetHttpError,
  budgetErrorResponse,
} from './budget-error.response.js';
import { BudgetHeadersWriter } from './budget-headers.writer.js';
import { replyOverHttp } from './http-error.reply.js';
import { replyOverTransport } from './transports/transport-error.replies.js';

/**
 * Registered by `TokencapModule` as an `APP_FILTER`. Over HTTP it answers a refused call with
 * 429, a missing budget key or a request Tokencap refused as invalid with 400 and an unreachable
 * store with 503 (see {@link budgetErrorResponse}); a 429 carries `Retry-After` when the refusing
 * budget has a window. GraphQL, WebSocket and RPC handlers get the same body in their transport's
 * error shape (see `replyOverTransport`), without RateLimit headers or `Retry-After`.
 */
@Catch(...BUDGET_HTTP_ERROR_TYPES)
export class BudgetExceptionFilter implements ExceptionFilter<BudgetHttpError> {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly headers: BudgetHeadersWriter,
  ) {}

  catch(error: BudgetHttpError, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() !== 'http') {
      return replyOverTransport(error, budgetErrorResponse(error), host);
    }
    const response: unknown = host.switchToHttp().getResponse();
    replyOverHttp(this.adapterHost.httpAdapter, this.headers, error, response);
  }
}
