import { TokencapConfigError } from '../errors.js';

// Users build their own budget tests on the fake servers, so a mistyped option must fail loudly:
// an ignored `replyToken` or a `tokensPerChunk: 0` quietly turned into 1 makes a test pass for
// the wrong reason. Every option and fault parameter of the kit goes through these checks.

/** Longest excerpt of a user string an error message repeats. */
const MAX_QUOTED = 64;

/** How an error message shows a value: strings quoted (and cut), numbers as written, else the type. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value);
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return typeof value === 'bigint' ? `${value}n` : String(value);
  }
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The error every invalid kit option or fault parameter throws. */
export function invalidOption(
  where: string,
  name: string,
  expected: string,
  value: unknown,
): TokencapConfigError {
  return new TokencapConfigError(
    `${where}: ${name} must be ${expected}, got ${describeValue(value)}.`,
  );
}

/**
 * Reads an options object: `undefined` is `{}`; anything else must be a plain object (prototype
 * `Object.prototype` or `null`, so nothing is read through a prototype) whose own keys are all
 * in `known`.
 * @throws TokencapConfigError naming the first unknown key, with the nearest known one.
 */
export function plainOptions(
  where: string,
  value: unknown,
  known: readonly string[],
): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw invalidOption(where, 'its options', 'a plain object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const near = nearest(key, known);
      throw new TokencapConfigError(
        `${where}: unknown option ${describeValue(key)}` +
          `${near === undefined ? '' : ` (did you mean "${near}"?)`}; known options: ${known.join(', ')}.`,
      );
    }
  }
  return value;
}

/** True for `{}`-style objects: prototype `Object.prototype` or `null`. */
export function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** An integer option in `[min, max]`, or `fallback` when absent. */
export function integerOption(
  where: string,
  name: string,
  value: unknown,
  range: { readonly min: number; readonly max: number; readonly fallback: number },
): number {
  if (value === undefined) return range.fallback;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < range.min ||
    value > range.max
  ) {
    throw invalidOption(where, name, `an integer from ${range.min} to ${range.max}`, value);
  }
  return value;
}

/** A finite number option in `[min, max]`, or `fallback` when absent. */
export function numberOption(
  where: string,
  name: string,
  value: unknown,
  range: { readonly min: number; readonly max: number; readonly fallback: number },
): number {
  if (value === undefined) return range.fallback;
  if (typeof value !== 'number' || !(value >= range.min && value <= range.max)) {
    throw invalidOption(where, name, `a number from ${range.min} to ${range.max}`, value);
  }
  return value;
}

/** A boolean option (a string such as `'false'` would otherwise read as true). */
export function booleanOption(
  where: string,
  name: string,
  value: unknown,
  fallback: boolean,
): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(where, name, 'a boolean', value);
  return value;
}

/** A non-empty string option, or `undefined` when absent. */
export function stringOption(where: string, name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw invalidOption(where, name, 'a non-empty string', value);
  }
  return value;
}

/** A function option, or `undefined` when absent. */
export function functionOption<F extends (...args: never[]) => unknown>(
  where: string,
  name: string,
  value: unknown,
): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(where, name, 'a function', value);
  return value as F;
}

/** The known option within edit distance 2 of a mistyped one (`replyToken` → `replyTokens`). */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j] + 1, row[j - 1] + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length];
}
