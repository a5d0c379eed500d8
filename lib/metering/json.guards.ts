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
