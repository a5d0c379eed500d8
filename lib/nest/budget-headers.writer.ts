import type { ServerResponse } from 'node:http';
import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  catchError,
  concatMap,
  defer,
  identity,
  type MonoTypeOperatorFunction,
  of,
  throwError,
} from 'rxjs';
import type { Budget } from '../core/budget.js';
import { Ledger } from '../core/ledger.js';
import { BudgetExceededError } from '../errors.js';
import { rateLimitField, rateLimitPolicyField, retryAfterSeconds } from './rate-limit.fields.js';
import { type ResolvedTokencapOptions, TOKENCAP_OPTIONS } from './tokencap-options.validator.js';

/**
 * Writes the RateLimit fields of a budgeted HTTP handler's open budgets onto its response, and
 * `Retry-After` onto a 429 (unless the module's `headers` option is `false`).
 */
@Injectable()
export class BudgetHeadersWriter {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly ledger: Ledger,
    @Inject(TOKENCAP_OPTIONS) private readonly options: ResolvedTokencapOptions,
  ) {}

  /**
   * Sets `RateLimit-Policy` when the handler starts (it needs no usage), and `RateLimit` before
   * the handler's first value goes on (so after the handler's own charges for a plain or promised
   * result, and before the first byte of a stream) and before an error goes on to the exception
   * filter. Later values wait in order. An `@Sse()` response is the exception: Nest sends its
   * headers one macrotask after the stream starts, whether an event came or not, so `RateLimit`
   * is on it only if the usage read (from a synchronous store, it always is) returned by then.
   */
  around<T>(context: ExecutionContext, budgets: readonly Budget[]): MonoTypeOperatorFunction<T> {
    if (!this.options.headers || context.getType() !== 'http' || budgets.length === 0) {
      return identity;
    }
    const response: unknown = context.switchToHttp().getResponse();
    const write = () => this.writeRemaining(response, budgets);
    return (source) =>
      defer(() => {
        if (!headersSent(response)) {
          this.set(
            response,
            'RateLimit-Policy',
            rateLimitPolicyField(budgets, this.ledger.clock()),
          );
        }
        return source;
      }).pipe(
        concatMap((value, index) =>
          index === 0
            ? defer(async () => {
                await write();
                return value;
              })
            : of(value),
        ),
        catchError((error: unknown) =>
          defer(async () => {
            await write();
            return undefined as T;
          }).pipe(concatMap(() => throwError(() => error))),
        ),
      );
  }

  /** Sets `Retry-After` for a refusal whose budget has a window (see `retryAfterSeconds`). */
  writeRetryAfter(response: unknown, error: BudgetExceededError): void {
    if (!this.options.headers || headersSent(response)) return;
    const seconds = retryAfterSeconds(error, this.ledger.clock());
    if (seconds !== undefined) this.set(response, 'Retry-After', String(seconds));
  }

  private async writeRemaining(response: unknown, budgets: readonly Budget[]): Promise<void> {
    const now = this.ledger.clock();
    let usages;
    try {
      usages = await this.ledger.usage(budgets);
    } catch {
      // The store is down (fail-closed): the response goes out without fields rather than failing
      // a call that has already been served; the outage is reported by the ledger.
      return;
    }
    if (headersSent(response)) return;
    this.set(response, 'RateLimit', rateLimitField(budgets, usages, now));
  }

  private set(response: unknown, name: string, value: string): void {
    this.adapterHost.httpAdapter.setHeader(response, name, value);
  }
}

// Express responses are ServerResponses; a Fastify reply keeps its ServerResponse in `raw`.
function headersSent(response: unknown): boolean {
  const raw = (response as { raw?: ServerResponse }).raw ?? (response as ServerResponse);
  return raw.headersSent;
}
