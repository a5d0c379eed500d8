import type { ServerResponse } from 'node:http';
import { StreamableFile } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { BudgetExceededError } from '../errors.js';
import { type BudgetHttpError, budgetErrorResponse } from './budget-error.response.js';
import type { BudgetHeadersWriter } from './budget-headers.writer.js';
import { tokencapErrorIn } from './transports/transport-errors.operator.js';

type HttpAdapter = HttpAdapterHost['httpAdapter'];

/**
 * Answers a Tokencap error on an HTTP response: its status and the JSON body of
 * {@link budgetErrorResponse}, with `Retry-After` on a 429. A stream refused mid-way has sent its
 * status already: the response is ended.
 */
export function replyOverHttp(
  adapter: HttpAdapter,
  headers: BudgetHeadersWriter,
  error: BudgetHttpError,
  response: unknown,
): void {
  if (adapter.isHeadersSent(response)) {
    adapter.end(response);
    return;
  }
  // Headers set for the answer the handler meant to send (a file's type, name and length) do not
  // describe this one.
  const headersOf = response as { removeHeader?(name: string): unknown };
  for (const name of CONTENT_HEADERS) headersOf.removeHeader?.(name);
  const body = budgetErrorResponse(error);
  if (error instanceof BudgetExceededError) headers.writeRetryAfter(response, error);
  adapter.reply(response, body, body.statusCode);
}

const CONTENT_HEADERS = ['Content-Type', 'Content-Disposition', 'Content-Length'];

/**
 * Makes a `StreamableFile` answer a Tokencap error raised before its first byte as the module's
 * filter does ({@link replyOverHttp}). Express hands an error of the file's stream to the file's
 * own error handler, never to exception filters (Nest's default handler answers `400 Bad Request`
 * in plain text, and logs the error, whose message names the budget's key). Once bytes went out
 * the connection is closed, as Nest and Fastify do, so the cut file cannot pass for a whole one.
 * Other errors still go to the handler the file had. Anything else passes unchanged.
 */
export function answerRefusalsOf<T>(
  value: T,
  adapter: HttpAdapter,
  headers: BudgetHeadersWriter,
): T {
  if (!(value instanceof StreamableFile)) return value;
  const fallback = value.errorHandler;
  value.setErrorHandler((error, response) => {
    const refusal = tokencapErrorIn(error);
    if (refusal === undefined) return fallback(error, response);
    const raw = response as unknown as ServerResponse;
    if (raw.destroyed) return;
    if (raw.headersSent) raw.destroy();
    else replyOverHttp(adapter, headers, refusal, response);
  });
  return value;
}
