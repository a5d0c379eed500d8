/** `value` for an error message: numbers as written (NaN, Infinity, -Infinity), else as JSON. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  try {
    // JSON would print NaN and Infinity inside an object as null.
    const named = (_: string, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
    return JSON.stringify(value, named) ?? String(value);
  } catch {
    return String(value);
  }
}
