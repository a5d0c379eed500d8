import { TokencapConfigError } from '../errors.js';
import { describeValue } from './describe-value.js';

/** A length of time: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'1m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a {@link Duration} into whole milliseconds.
 * @param what names the option in the error message, e.g. `'window of budget "session"'`.
 * @throws TokencapConfigError naming the value when it is not a positive duration.
 */
export function parseDuration(value: unknown, what: string): number {
  let ms: number | undefined;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (match) ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 1 || !Number.isSafeInteger(Math.round(ms))) {
    throw new TokencapConfigError(
      `Invalid ${what}: ${describeValue(value)}. Expected a positive number of milliseconds or a ` +
        `string such as '500ms', '30s', '1m', '1h' or '1d'.`,
    );
  }
  return Math.round(ms);
}
