import { invalidRequest } from './openai-error.factory.js';

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
