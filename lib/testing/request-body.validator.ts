import { FakeHttpError, invalidRequest } from './openai-error.factory.js';

/**
 * Checks that a request body is a JSON object.
 * @throws FakeHttpError 400 otherwise, worded like the API's own message.
 */
export function requireObjectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest(
      'We could not parse the JSON body of your request. The request body must be a JSON object.',
    );
  }
  return body as Record<string, unknown>;
}

/** @throws FakeHttpError 400 when `body[field]` is not a non-empty string. */
export function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw invalidRequest(`Missing required parameter: '${field}'.`, field);
  }
  return value;
}

/** @throws FakeHttpError 400 when `body[field]` is not a non-empty array. */
export function requireArray(body: Record<string, unknown>, field: string): unknown[] {
  const value = body[field];
  if (!Array.isArray(value)) throw invalidRequest(`Missing required parameter: '${field}'.`, field);
  if (value.length === 0) {
    throw invalidRequest(
      `Invalid '${field}': empty array. Expected an array with minimum length 1.`,
      field,
    );
  }
  return value;
}

/** Returns `body[field]` as an array, or `undefined` when absent or null. @throws FakeHttpError 400 otherwise. */
export function optionalArray(body: Record<string, unknown>, field: string): unknown[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value))
    throw invalidRequest(`Invalid type for '${field}': expected an array.`, field);
  return value;
}

/** Returns `body[field]` as an object, or `undefined` when absent or null. */
export function optionalObject(
  body: Record<string, unknown>,
  field: string,
): Record<string, unknown> | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest(`Invalid type for '${field}': expected an object.`, field);
  }
  return value as Record<string, unknown>;
}

/**
 * Returns `body[field]` as an integer in `[min, max]`, or `undefined` when absent or null, as
 * the API reads an integer parameter.
 * @throws FakeHttpError 400 worded as the API words it: `invalid_type` for a string, a boolean,
 * an object or a decimal number; `integer_below_min_value` / `integer_above_max_value` for an
 * integer out of range, with `param` naming the field.
 */
export function optionalInteger(
  body: Record<string, unknown>,
  field: string,
  range: { readonly min: number; readonly max: number },
): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw parameterError(
      `Invalid type for '${field}': expected an integer, but got ${jsonType(value)} instead.`,
      field,
      'invalid_type',
    );
  }
  if (value < range.min) {
    throw parameterError(
      `Invalid '${field}': integer below minimum value. Expected a value >= ${range.min}, but got ${value} instead.`,
      field,
      'integer_below_min_value',
    );
  }
  if (value > range.max) {
    throw parameterError(
      `Invalid '${field}': integer above maximum value. Expected a value <= ${range.max}, but got ${value} instead.`,
      field,
      'integer_above_max_value',
    );
  }
  return value;
}

function parameterError(message: string, param: string, code: string): FakeHttpError {
  return new FakeHttpError(400, { message, type: 'invalid_request_error', param, code });
}

/** The API's name for a JSON value's type, as in "expected an integer, but got a string". */
function jsonType(value: unknown): string {
  if (typeof value === 'number') return 'a decimal number';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  return Array.isArray(value) ? 'an array' : 'an object';
}
