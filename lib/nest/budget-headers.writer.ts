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
import { rateLimitFields, retryAfterSeconds } from './rate-limit.fields.js';
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
   * Sets the fields before the handler's first value goes on (so after the handler's own charges
   * for a plain or promised result, and before the first byte of a stream or an SSE response),
   * and before an error goes on to the exception filter. Later values wait in order.
   */
  around<T>(context: ExecutionContext, budgets: readonly Budget[]): MonoTypeOperatorFunction<T> {
    if (!this.options.headers || context.getType() !== 'http' || budgets.length === 0) {
      return identity;
    }
    const response: unknown = context.switchToHttp().getResponse();
    const write = () => this.writeFields(response, budgets);
    return (source) =>
      source.pipe(
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

  private async writeFields(response: unknown, budgets: readonly Budget[]): Promise<void> {
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
    const fields = rateLimitFields(budgets, usages, now);
    this.set(response, 'RateLimit-Policy', fields.policy);
    this.set(response, 'RateLimit', fields.rateLimit);
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
