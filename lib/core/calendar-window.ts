import { TokencapConfigError } from '../errors.js';

/** A calendar period a budget's usage can follow. Weeks are ISO weeks: they start on Monday. */
export type CalendarUnit = 'day' | 'week' | 'month';

/** The calendar units, in documentation order. */
export const CALENDAR_UNITS: readonly CalendarUnit[] = ['day', 'week', 'month'];

/**
 * A window that follows the calendar of an IANA time zone: it starts at local midnight of the
 * day, of the week's Monday, or of the month's first day, so it lasts 23 or 25 hours across a DST
 * change and 28 to 31 days for a month.
 */
export interface CalendarWindow {
  readonly kind: 'calendar';
  readonly unit: CalendarUnit;
  /** The canonical zone name, as `Intl` resolves it (`'Europe/Berlin'`). */
  readonly timeZone: string;
  /** Canonical name, part of the ledger's identity (`'month.Europe/Berlin'`). */
  readonly tag: string;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

// Resolving a zone builds an Intl.DateTimeFormat (~0.1 ms), and a calendar budget defined per
// request resolves its zone each time: each spelling is resolved once (bounded, as spellings may
// come from requests).
const canonicalZones = new Map<string, string>();
const MAX_ZONE_SPELLINGS = 1_000;

/**
 * Resolves an IANA zone name to its canonical spelling.
 * @throws TokencapConfigError naming the zone when `Intl` does not know it.
 */
export function canonicalTimeZone(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw badZone(value, what);
  }
  let zone = canonicalZones.get(value);
  if (zone !== undefined) return zone;
  try {
    zone = new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    throw badZone(value, what);
  }
  if (canonicalZones.size >= MAX_ZONE_SPELLINGS) canonicalZones.clear();
  canonicalZones.set(value, zone);
  return zone;
}

function badZone(value: unknown, what: string): TokencapConfigError {
  return new TokencapConfigError(
    `Invalid ${what}: ${JSON.stringify(value)} is not an IANA time zone this runtime knows ` +
      `(expected a name such as 'UTC', 'Europe/Berlin' or 'America/New_York').`,
  );
}

// One object per unit and zone, so the bounds cached on it serve every budget that names it.
const windows = new Map<string, CalendarWindow>();

/** The calendar window of `unit` in `timeZone` (which must already be canonical). */
export function calendarWindow(unit: CalendarUnit, timeZone: string): CalendarWindow {
  const tag = `${unit}.${timeZone}`;
  let window = windows.get(tag);
  if (window === undefined) {
    window = Object.freeze({ kind: 'calendar', unit, timeZone, tag });
    windows.set(tag, window);
  }
  return window;
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local wall-clock time of instant `t` in `timeZone`, written as if it were UTC (epoch ms, whole seconds). */
function wallClock(timeZone: string, t: number): number {
  const parts = formatter(timeZone).formatToParts(t);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
}

/** The zone's offset from UTC at instant `t`, in ms. */
function offsetAt(timeZone: string, t: number): number {
  const whole = Math.floor(t / 1000) * 1000;
  return wallClock(timeZone, whole) - whole;
}

/**
 * The first instant whose local time in `timeZone` is at or after `wall` (a local midnight written
 * as UTC). Usually `wall - offset`; where midnight falls in a DST gap the day starts at the
 * switch, and where it repeats (a fall-back at midnight) the earlier one counts.
 */
function instantOf(timeZone: string, wall: number): number {
  const before = wall - offsetAt(timeZone, wall - DAY_MS);
  const after = wall - offsetAt(timeZone, wall + DAY_MS);
  let best = Infinity;
  for (const candidate of [before, after]) {
    if (wallClock(timeZone, candidate) === wall && candidate < best) best = candidate;
  }
  if (best !== Infinity) return best;
  // A gap: the switch lies between the two candidates; find the first instant past midnight.
  let lo = Math.min(before, after);
  let hi = Math.max(before, after);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (wallClock(timeZone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

// Bounds last computed per window: every store operation asks, and they change only at a boundary.
const lastBounds = new WeakMap<CalendarWindow, { start: number; end: number }>();

/** The calendar period of `window` holding instant `now`: `start <= now < end`, epoch ms. */
export function calendarBounds(
  window: CalendarWindow,
  now: number,
): { start: number; end: number } {
  const cached = lastBounds.get(window);
  if (cached !== undefined && cached.start <= now && now < cached.end) return cached;
  const { timeZone, unit } = window;
  const local = new Date(wallClock(timeZone, now));
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  const d = local.getUTCDate();
  let from: number;
  let to: number;
  if (unit === 'day') {
    from = Date.UTC(y, m, d);
    to = Date.UTC(y, m, d + 1);
  } else if (unit === 'week') {
    const monday = d - ((local.getUTCDay() + 6) % 7);
    from = Date.UTC(y, m, monday);
    to = Date.UTC(y, m, monday + 7);
  } else {
    from = Date.UTC(y, m, 1);
    to = Date.UTC(y, m + 1, 1);
  }
  const bounds = { start: instantOf(timeZone, from), end: instantOf(timeZone, to) };
  lastBounds.set(window, bounds);
  return bounds;
}
