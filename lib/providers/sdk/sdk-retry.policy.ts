import { neverConnected } from '../../metering/connection-failure.js';

// A metered call takes over the SDK's retries: each attempt is its own request the provider may
// bill, so each is reserved and settled on its own (a 429 released, a timeout charged). The SDK is
// sent every attempt with `maxRetries: 0`; this file mirrors its documented retry rules
// (Stainless-generated clients: `openai`, `@anthropic-ai/sdk`).

/** The SDK's error classes, read from the client's constructor (both SDKs expose them statically). */
interface SdkErrors {
  APIError?: new (...args: never[]) => Error;
  APIUserAbortError?: new (...args: never[]) => Error;
  APIConnectionError?: new (...args: never[]) => Error;
  APIConnectionTimeoutError?: new (...args: never[]) => Error;
}

/** How an attempt that ended without a response must be settled. */
export type AttemptFailure = 'release' | 'charge-estimate' | 'charge-reservation';

/** Reads the retry rules of one SDK client. */
export class SdkRetryPolicy {
  private readonly errors: SdkErrors;

  constructor(private readonly client: unknown) {
    const ctor = (client as { constructor?: unknown } | null)?.constructor;
    this.errors = (typeof ctor === 'function' ? ctor : {}) as SdkErrors;
  }

  /** Retries the SDK would make for a request sent with `options` (`maxRetries`, else the client's, else 2). */
  retries(options: Readonly<Record<string, unknown>> | undefined): number {
    const own = options?.maxRetries;
    const value = own ?? (this.client as { maxRetries?: unknown } | null)?.maxRetries ?? 2;
    return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
  }

  /** Whether the SDK would retry after `error` (a connection error, or a 408/409/429/5xx). */
  retryable(error: unknown): boolean {
    if (this.is(error, 'APIUserAbortError')) return false;
    if (this.is(error, 'APIConnectionError')) return true;
    if (!this.is(error, 'APIError')) return false;
    const { status, headers } = error as { status?: unknown; headers?: unknown };
    const should = headerOf(headers, 'x-should-retry');
    if (should === 'true') return true;
    if (should === 'false') return false;
    return (
      typeof status === 'number' &&
      (status === 408 || status === 409 || status === 429 || status >= 500)
    );
  }

  /**
   * How to settle an attempt whose request left but whose response never came (a timeout, the
   * caller's abort). A plain call is charged what it reserved: the provider runs a non-streamed
   * call to its end even when the client has gone. A stream is charged its estimate (the prompt,
   * and the grant of a model that bills unseen output): the provider stops a stream whose client
   * has gone. A connection that dropped (reset, closed by the other side) may have carried the
   * whole request, which the provider then ran: charged the same (fail closed). A request that
   * never left (`mayHaveLeft` false: aborted, or failed, before the SDK handed it to fetch), an
   * HTTP error status, a connection that was never made (refused, unknown host, TLS failure):
   * released, the provider bills nothing for them.
   */
  failureOf(error: unknown, mayHaveLeft: boolean, stream: boolean): AttemptFailure {
    if (!mayHaveLeft) return 'release';
    const gone =
      this.is(error, 'APIConnectionTimeoutError') ||
      this.is(error, 'APIUserAbortError') ||
      (this.is(error, 'APIConnectionError') && !neverConnected(error));
    if (!gone) return 'release';
    return stream ? 'charge-estimate' : 'charge-reservation';
  }

  /** Milliseconds to wait before retry `attempt` (1-based), as the SDK computes it. */
  delayMs(error: unknown, attempt: number, retries: number): number {
    const headers = (error as { headers?: unknown } | null)?.headers;
    const afterMs = Number.parseFloat(headerOf(headers, 'retry-after-ms') ?? '');
    let wait = Number.isFinite(afterMs) ? afterMs : undefined;
    const after = headerOf(headers, 'retry-after');
    if (wait === undefined && after !== undefined) {
      const seconds = Number.parseFloat(after);
      wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(after) - Date.now();
    }
    if (wait !== undefined && wait >= 0 && wait < 60_000) return wait;
    const backoff = Math.min(0.5 * 2 ** (Math.min(attempt, retries) - 1), 8);
    return backoff * (1 - Math.random() * 0.25) * 1000;
  }

  /** The SDK's own abort error, for a caller who aborted while a retry was waiting. */
  abortError(): Error {
    const Abort = this.errors.APIUserAbortError as (new () => Error) | undefined;
    return Abort ? new Abort() : new Error('Request was aborted.');
  }

  private is(error: unknown, name: keyof SdkErrors): boolean {
    const type = this.errors[name];
    return typeof type === 'function' && error instanceof type;
  }
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (headers && typeof (headers as Headers).get === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  const value = (headers as Record<string, unknown> | null | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** Waits `ms`, ending early when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
