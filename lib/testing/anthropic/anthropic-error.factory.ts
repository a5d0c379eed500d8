import type { ServerResponse } from 'node:http';

/** The body of every error the Anthropic API returns. */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string; details?: Readonly<Record<string, unknown>> };
  /** Echo of the `request-id` header, as the real API includes it. */
  request_id: string;
}

/** The error type and message the API uses for each status (`errors` page of the API docs). */
const DEFAULTS: Readonly<Record<number, { type: string; message: string }>> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  402: { type: 'billing_error', message: 'Your credit balance is too low.' },
  403: { type: 'permission_error', message: 'Your API key does not have permission.' },
  404: { type: 'not_found_error', message: 'Not found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed size.' },
  429: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit.' },
  500: { type: 'api_error', message: 'Internal server error' },
  504: { type: 'timeout_error', message: 'Request timed out.' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

/** The API's error `type` for an HTTP status: the documented one, else `api_error` for 5xx and
 * `invalid_request_error` for other 4xx (as the docs say it does for unlisted 4xx codes). */
export function errorTypeFor(status: number): string {
  return DEFAULTS[status]?.type ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** An error a handler throws to answer with an Anthropic-shaped JSON error. */
export class AnthropicHttpError extends Error {
  constructor(
    readonly status: number,
    message?: string,
    readonly type: string = errorTypeFor(status),
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message ?? DEFAULTS[status]?.message ?? `HTTP ${status}`);
    this.name = 'AnthropicHttpError';
  }
}

/** A 400 `invalid_request_error`, the answer to every malformed request. */
export function invalidRequest(message: string): AnthropicHttpError {
  return new AnthropicHttpError(400, message);
}

/** What an error body says; anything left out gets the API's usual value for the status. */
export interface AnthropicErrorFields {
  type?: string;
  message?: string;
  /** Machine-readable cause, e.g. `{ error_code: 'enforced_spend_limit_reached' }`. */
  details?: Readonly<Record<string, unknown>>;
}

/** Builds the body for `status`, defaulting type and message to the API's. */
export function anthropicErrorBody(
  status: number,
  requestId: string,
  fields: AnthropicErrorFields = {},
): AnthropicErrorBody {
  return {
    type: 'error',
    error: {
      type: fields.type ?? errorTypeFor(status),
      message: fields.message ?? DEFAULTS[status]?.message ?? `HTTP ${status}`,
      ...(fields.details === undefined ? {} : { details: fields.details }),
    },
    request_id: requestId,
  };
}

/** Writes an Anthropic-style JSON error with its `request-id` header, unless the client is gone. */
export function sendAnthropicError(
  res: ServerResponse,
  status: number,
  requestId: string,
  fields: AnthropicErrorFields = {},
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(anthropicErrorBody(status, requestId, fields));
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'request-id': requestId,
  });
  res.end(body);
}
