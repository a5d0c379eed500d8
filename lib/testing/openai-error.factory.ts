import type { ServerResponse } from 'node:http';

/** The body of every error the OpenAI API returns. */
export interface OpenAIErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
  };
}

/** Fields of an OpenAI-style error; anything left out gets the API's usual value for the status. */
export interface OpenAIErrorFields {
  message?: string;
  type?: string;
  param?: string | null;
  code?: string | null;
}

/**
 * An error a handler throws to answer with an OpenAI-shaped JSON error instead of a generic 500.
 */
export class FakeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly fields: OpenAIErrorFields = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(fields.message ?? `HTTP ${status}`);
    this.name = 'FakeHttpError';
  }
}

/** Shorthand for a 400 `invalid_request_error` about one request field. */
export function invalidRequest(message: string, param: string | null = null): FakeHttpError {
  return new FakeHttpError(400, { message, type: 'invalid_request_error', param, code: null });
}

/**
 * Builds the error body, defaulting message, type and code to what the real API sends for the
 * status, so SDK code that branches on `error.code` or `error.type` sees familiar values.
 */
export function openAIErrorBody(status: number, fields: OpenAIErrorFields = {}): OpenAIErrorBody {
  const defaults = DEFAULTS[status] ?? {
    message: `Fake OpenAI error (HTTP ${status}).`,
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
  };
  return {
    error: {
      message: fields.message ?? defaults.message,
      type: fields.type ?? defaults.type,
      param: fields.param ?? null,
      code: fields.code === undefined ? defaults.code : fields.code,
    },
  };
}

/** Writes an OpenAI-style JSON error, unless the client is already gone. */
export function sendOpenAIError(
  res: ServerResponse,
  status: number,
  fields: OpenAIErrorFields = {},
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(openAIErrorBody(status, fields));
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const DEFAULTS: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: 'Invalid request.', type: 'invalid_request_error', code: null },
  401: {
    message: 'Incorrect API key provided.',
    type: 'invalid_request_error',
    code: 'invalid_api_key',
  },
  403: { message: 'Forbidden.', type: 'invalid_request_error', code: null },
  404: { message: 'Not found.', type: 'invalid_request_error', code: null },
  429: {
    message: 'Rate limit reached. Please try again later.',
    type: 'requests',
    code: 'rate_limit_exceeded',
  },
  500: {
    message: 'The server had an error while processing your request. Sorry about that!',
    type: 'server_error',
    code: null,
  },
  503: {
    message: 'The engine is currently overloaded, please try again later.',
    type: 'server_error',
    code: null,
  },
};
