import { TokencapConfigError } from '../errors.js';
import { describeValue } from './describe-value.js';
import {
  CALENDAR_UNITS,
  type CalendarUnit,
  type CalendarWindow,
  calendarBounds,
  calendarWindow,
  canonicalTimeZone,
} from './calendar-window.js';
import { parseDuration } from './duration.js';

/**
 * A fixed window: `ms` long, aligned to the epoch, so every replica agrees on its bounds whatever
 * time it started.
 */
export interface FixedWindow {
  readonly kind: 'fixed';
  /** Length in milliseconds. */
  readonly ms: number;
  /** Canonical name, part of the ledger's identity (`'3600000ms'` for `'1h'` and `3_600_000`). */
  readonly tag: string;
}

/**
 * When a budget's usage starts afresh: a fixed length, or a calendar day, week or month in a time
 * zone. Every window a store uses goes through `windowBounds`, so the stores and the Redis
 * scripts only ever see the bounds.
 */
export type BudgetWindow = FixedWindow | CalendarWindow;

/** The window holding a moment: `start <= now < end`, epoch ms. */
export interface WindowBounds {
  readonly start: number;
  readonly end: number;
}

// One frozen window per option value (`'1h'`, `3_600_000`): budgets are often defined per
// request, and parsing the same option every time is wasted work. Bounded, should the values
// come from somewhere unbounded.
const fixedWindows = new Map<unknown, FixedWindow>();
const MAX_REMEMBERED = 1_000;

/**
 * Parses a budget's `window` option (`'1h'`, `'1d'`, ms, or `'day'`, `'week'`, `'month'`) and its
 * `timeZone` (calendar windows only; default `'UTC'`).
 * @param what names the option in the error message, e.g. `'window of budget "session"'`.
 * @throws TokencapConfigError naming the value.
 */
export function parseWindow(value: unknown, what: string, timeZone?: unknown): BudgetWindow {
  if (CALENDAR_UNITS.includes(value as CalendarUnit)) {
    const zone = canonicalTimeZone(timeZone ?? 'UTC', `timeZone of ${what}`);
    return calendarWindow(value as CalendarUnit, zone);
  }
  if (timeZone !== undefined) {
    throw new TokencapConfigError(
      `timeZone ${JSON.stringify(timeZone)} of ${what} only applies to a calendar window ` +
        `('day', 'week' or 'month'), but the window is ${JSON.stringify(value)}.`,
    );
  }
  let window = fixedWindows.get(value);
  if (window !== undefined) return window;
  let ms: number;
  try {
    ms = parseDuration(value, what);
  } catch {
    throw new TokencapConfigError(
      `Invalid ${what}: ${describeValue(value)}. Expected a whole number of milliseconds ≥ 1 or a ` +
        `string such as '500ms', '30s', '1m', '1h' or '1d', or a calendar window: 'day', 'week' or 'month'.`,
    );
  }
  window = Object.freeze({ kind: 'fixed', ms, tag: `${ms}ms` } as const);
  if (fixedWindows.size >= MAX_REMEMBERED) fixedWindows.clear();
  fixedWindows.set(value, window);
  return window;
}

/** The bounds of the window that holds `now`: the one rule both stores and the Redis scripts follow. */
export function windowBounds(window: BudgetWindow, now: number): WindowBounds {
  if (window.kind === 'calendar') return calendarBounds(window, now);
  // A floored modulo, so a clock before the epoch (a test's) still gets start <= now.
  const offset = ((now % window.ms) + window.ms) % window.ms;
  const start = now - offset;
  return { start, end: start + window.ms };
}
