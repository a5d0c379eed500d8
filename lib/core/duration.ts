import { TokencapConfigError } from '../errors.js';
import { describeValue } from './describe-value.js';

/** A length of time: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'1m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a {@link Duration} into whole milliseconds (a fraction of one is refused, not rounded).
 * @param what names the option in the error message, e.g. `'window of budget "session"'`.
 * @throws TokencapConfigError naming the value when it is not a whole number of milliseconds ≥ 1.
 */
export function parseDuration(value: unknown, what: string): number {
  let ms: number | undefined;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (match) ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  // Whole milliseconds: '1.1s' is 1100.0000000000002 in floating point and is 1100, but 1.5 (ms) is
  // refused rather than rounded to a window or timeout nobody asked for.
  const whole = ms === undefined ? NaN : Math.round(ms);
  if (
    ms === undefined ||
    !Number.isFinite(ms) ||
    whole < 1 ||
    Math.abs(ms - whole) > 1e-6 ||
    !Number.isSafeInteger(whole)
  ) {
    throw new TokencapConfigError(
      `Invalid ${what}: ${describeValue(value)}. Expected a whole number of milliseconds ≥ 1 or a ` +
        `string such as '500ms', '30s', '1m', '1h' or '1d'.`,
    );
  }
  return whole;
}
