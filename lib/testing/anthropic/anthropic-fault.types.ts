import type { ServerResponse } from 'node:http';

import { errorTypeFor, sendAnthropicError } from './anthropic-error.factory.js';

/**
 * Answer with an Anthropic-style JSON error instead of a message; nothing is billed. `type` and
 * `message` default to the API's for the status (429 `rate_limit_error`, 529 `overloaded_error`,
 * 500 `api_error`, ...). A 429 carries `retry-after: 1`; every status the SDK retries (408, 409,
 * 429, 5xx) also carries `retry-after-ms: 10`, which the SDK prefers, so its automatic retries
 * wait 10 ms instead of backing off for seconds. `headers` override both.
 */
export interface AnthropicErrorFault {
  kind: 'error';
  /** HTTP status, 400-599, e.g. 429, 500, 529. */
  status: number;
  type?: string;
  message?: string;
  /** Sent as `error.details`, e.g. `{ error_code: 'enforced_spend_limit_reached' }`. */
  details?: Readonly<Record<string, unknown>>;
  /** Extra response headers, e.g. `{ 'retry-after': '2' }` or `{ 'x-should-retry': 'false' }`. */
  headers?: Readonly<Record<string, string>>;
}

/** Hold the response back for `ms` (on top of `latencyMs`), then answer normally. */
export interface AnthropicDelayFault {
  kind: 'delay';
  ms: number;
}

/**
 * Drop the connection after `afterChunks` content deltas (`text_delta`, `thinking_delta`,
 * `input_json_delta`) of a stream, or after the last one when the reply has fewer; the client
 * never sees `message_delta` nor `message_stop`. Billed per `abortBilling`. On a request that is
 * not streamed the socket is dropped before any byte.
 */
export interface AnthropicCutStreamFault {
  kind: 'cut-stream';
  afterChunks: number;
}

/**
 * Send an `event: error` in the stream after `afterChunks` content deltas, as the API does when it
 * overloads mid-stream (`type` defaults to `overloaded_error`), then end the response. Billed per
 * `abortBilling`. On a request that is not streamed, answer the matching HTTP error instead
 * (529 for `overloaded_error`, else 500), billed nothing.
 */
export interface AnthropicStreamErrorFault {
  kind: 'stream-error';
  afterChunks: number;
  type?: string;
  message?: string;
}

/**
 * Run and bill the request in full (a stream its whole reply), then destroy the socket before any
 * byte of the response: the client sees a dropped connection (the SDK's `APIConnectionError`) for
 * a request Anthropic ran, whatever `abortBilling` says.
 */
export interface AnthropicDropAfterBillingFault {
  kind: 'drop-after-billing';
}

/**
 * Answer a streamed request with HTTP 200 and its event-stream headers, then cut the connection
 * before the first event (`message_start`). Billed per `abortBilling` as a response that began:
 * the input (`'generated'`), or the whole reply (`'full'`). On a request that is not streamed the
 * socket is dropped before any byte, as for `cut-stream`.
 */
export interface AnthropicEmptyStreamFault {
  kind: 'empty-stream';
}

/** Leave `usage` out: no `usage` on the message, in `message_start` or in `message_delta`, no
 * `input_tokens` from `count_tokens`. Billing is unchanged. (The SDK's `messages.stream()` helper
 * throws a TypeError on a `message_delta` without usage, as it would against such a provider.) */
export interface AnthropicOmitUsageFault {
  kind: 'omit-usage';
}

/** Send `usage` with wrong types, or `usage` verbatim if given. Billing is unchanged. */
export interface AnthropicMalformedUsageFault {
  kind: 'malformed-usage';
  usage?: unknown;
}

/** Report more than was billed: `input_tokens` and `output_tokens` become `ceil(real * factor) +
 * extraTokens` (defaults 2 and 0); cache fields stay true. `tally.reported` shows the lie. */
export interface AnthropicOverReportUsageFault {
  kind: 'over-report-usage';
  factor?: number;
  extraTokens?: number;
}

/** Report less than was billed: `input_tokens` and `output_tokens` become `max(0, floor(real *
 * factor) - missingTokens)` (defaults 0.5 and 0); cache fields stay true. */
export interface AnthropicUnderReportUsageFault {
  kind: 'under-report-usage';
  factor?: number;
  missingTokens?: number;
}

/** Every misbehaviour the fake Anthropic API can be told to show, with `server.fail()`. */
export type FakeAnthropicFault =
  | AnthropicErrorFault
  | AnthropicDelayFault
  | AnthropicCutStreamFault
  | AnthropicStreamErrorFault
  | AnthropicDropAfterBillingFault
  | AnthropicEmptyStreamFault
  | AnthropicOmitUsageFault
  | AnthropicMalformedUsageFault
  | AnthropicOverReportUsageFault
  | AnthropicUnderReportUsageFault;

/** The HTTP error a `stream-error` fault turns into on a request that is not streamed. */
export function streamErrorAsHttp(fault: AnthropicStreamErrorFault): AnthropicErrorFault {
  const status = (fault.type ?? 'overloaded_error') === 'overloaded_error' ? 529 : 500;
  return { kind: 'error', status, type: fault.type, message: fault.message };
}

/**
 * Answers with the error a fault describes: its status, its type (the API's for the status when
 * unset), and retry headers for the statuses the SDK retries (see {@link AnthropicErrorFault}).
 */
export function sendErrorFault(
  res: ServerResponse,
  requestId: string,
  fault: AnthropicErrorFault,
): void {
  const retried = [408, 409, 429].includes(fault.status) || fault.status >= 500;
  const headers = {
    ...(fault.status === 429 ? { 'retry-after': '1' } : {}),
    ...(retried ? { 'retry-after-ms': '10' } : {}),
    ...fault.headers,
  };
  const fields = {
    type: fault.type ?? errorTypeFor(fault.status),
    message: fault.message,
    details: fault.details,
  };
  sendAnthropicError(res, fault.status, requestId, fields, headers);
}

/**
 * Rejects faults that could not happen or would test nothing.
 * @throws RangeError naming the bad field.
 */
export function validateAnthropicFault(fault: FakeAnthropicFault): void {
  const kind = (fault as { kind?: unknown } | null)?.kind;
  const bad = (what: string) => new RangeError(`fail(${String(kind)}): ${what}`);
  const count = (value: unknown, name: string) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw bad(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
  };
  switch (fault?.kind) {
    case 'error':
      if (!Number.isInteger(fault.status) || fault.status < 400 || fault.status > 599) {
        throw bad(
          `status must be an HTTP error status (400-599), got ${JSON.stringify(fault.status)}`,
        );
      }
      break;
    case 'delay':
      if (typeof fault.ms !== 'number' || !(fault.ms >= 0) || !Number.isFinite(fault.ms)) {
        throw bad(`ms must be a finite number >= 0, got ${JSON.stringify(fault.ms)}`);
      }
      break;
    case 'cut-stream':
    case 'stream-error':
      count(fault.afterChunks, 'afterChunks');
      break;
    case 'over-report-usage':
      if (!((fault.factor ?? 2) >= 1) || (fault.extraTokens ?? 0) < 0) {
        throw bad('factor must be >= 1 and extraTokens >= 0 (it reports MORE than reality)');
      }
      if (fault.factor === 1 && !fault.extraTokens)
        throw bad('factor 1 with no extraTokens reports the truth');
      break;
    case 'under-report-usage':
      if (
        !((fault.factor ?? 0.5) >= 0 && (fault.factor ?? 0.5) <= 1) ||
        (fault.missingTokens ?? 0) < 0
      ) {
        throw bad(
          'factor must be within 0-1 and missingTokens >= 0 (it reports LESS than reality)',
        );
      }
      if (fault.factor === 1 && !fault.missingTokens)
        throw bad('factor 1 with no missingTokens reports the truth');
      break;
    case 'omit-usage':
    case 'malformed-usage':
    case 'drop-after-billing':
    case 'empty-stream':
      break;
    default:
      throw new RangeError(`fail(): unknown fault kind ${JSON.stringify(kind)}`);
  }
}
