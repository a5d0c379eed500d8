import { TokencapRequestError } from '../errors.js';

// Readers for provider JSON, which arrives untyped: a field of the wrong shape reads as absent.

/** A whole number of tokens >= 0, or `undefined` for anything else (null, strings, negatives). */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** `value` as a plain object, or `undefined`. */
export function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A positive whole cap, treating `null`/absent (and nonsense the API would reject) as no cap. */
export function positiveCap(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}

/**
 * Throws `TokencapRequestError` when `body[parameter]` is set (not `null` nor absent) to anything
 * but a whole number from `min` to 2^53 - 1.
 */
export function assertCap(
  body: Readonly<Record<string, unknown>>,
  parameter: string,
  min: number,
): void {
  const value = body[parameter];
  if (value === undefined || value === null) return;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return;
  throw new TokencapRequestError(parameter, value, `expected a whole number of at least ${min}`);
}
