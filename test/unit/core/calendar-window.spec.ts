import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { parseWindow, windowBounds } from '../../../lib/core/budget-window.js';
import { encodeLedgerId, ledgerIdOf } from '../../../lib/core/ledger-id.js';
import { TokencapConfigError } from '../../../lib/errors.js';

const iso = (s: string) => Date.parse(s);
const bounds = (window: string, timeZone: string, at: string) => {
  const b = windowBounds(parseWindow(window, 'window', timeZone), iso(at));
  return { start: new Date(b.start).toISOString(), end: new Date(b.end).toISOString() };
};

describe('calendar windows', () => {
  it.each([
    // Month ends: 31, 30, 28 and 29 days.
    [
      'month',
      'UTC',
      '2026-01-31T23:59:59.999Z',
      '2026-01-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
    ],
    [
      'month',
      'UTC',
      '2026-02-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
    ],
    [
      'month',
      'UTC',
      '2026-04-30T12:00:00.000Z',
      '2026-04-01T00:00:00.000Z',
      '2026-05-01T00:00:00.000Z',
    ],
    [
      'month',
      'UTC',
      '2028-02-29T23:59:59.999Z',
      '2028-02-01T00:00:00.000Z',
      '2028-03-01T00:00:00.000Z',
    ],
    [
      'day',
      'UTC',
      '2028-02-29T00:00:00.000Z',
      '2028-02-29T00:00:00.000Z',
      '2028-03-01T00:00:00.000Z',
    ],
    // Berlin: CET (+1) in winter, CEST (+2) in summer. 2026-03-29 is 23 hours, 2026-10-25 is 25.
    [
      'month',
      'Europe/Berlin',
      '2026-01-31T22:59:59.999Z',
      '2025-12-31T23:00:00.000Z',
      '2026-01-31T23:00:00.000Z',
    ],
    [
      'month',
      'Europe/Berlin',
      '2026-01-31T23:00:00.000Z',
      '2026-01-31T23:00:00.000Z',
      '2026-02-28T23:00:00.000Z',
    ],
    [
      'month',
      'Europe/Berlin',
      '2026-03-15T12:00:00.000Z',
      '2026-02-28T23:00:00.000Z',
      '2026-03-31T22:00:00.000Z',
    ],
    [
      'day',
      'Europe/Berlin',
      '2026-03-29T01:59:59.999Z',
      '2026-03-28T23:00:00.000Z',
      '2026-03-29T22:00:00.000Z',
    ],
    [
      'day',
      'Europe/Berlin',
      '2026-03-29T02:00:00.000Z',
      '2026-03-28T23:00:00.000Z',
      '2026-03-29T22:00:00.000Z',
    ],
    [
      'day',
      'Europe/Berlin',
      '2026-10-25T00:30:00.000Z',
      '2026-10-24T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
    ],
    [
      'day',
      'Europe/Berlin',
      '2026-10-25T01:30:00.000Z',
      '2026-10-24T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
    ],
    [
      'week',
      'Europe/Berlin',
      '2026-10-25T22:59:59.999Z',
      '2026-10-18T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
    ],
    [
      'week',
      'Europe/Berlin',
      '2026-10-25T23:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
      '2026-11-01T23:00:00.000Z',
    ],
    // New York: EST (-5) / EDT (-4); switches 2026-03-08 and 2026-11-01 at 02:00 local.
    [
      'day',
      'America/New_York',
      '2026-03-08T12:00:00.000Z',
      '2026-03-08T05:00:00.000Z',
      '2026-03-09T04:00:00.000Z',
    ],
    [
      'day',
      'America/New_York',
      '2026-11-01T12:00:00.000Z',
      '2026-11-01T04:00:00.000Z',
      '2026-11-02T05:00:00.000Z',
    ],
    [
      'month',
      'America/New_York',
      '2026-03-01T04:59:59.999Z',
      '2026-02-01T05:00:00.000Z',
      '2026-03-01T05:00:00.000Z',
    ],
    // ISO weeks start on Monday: 2026-12-02 is a Wednesday.
    [
      'week',
      'UTC',
      '2026-12-02T10:00:00.000Z',
      '2026-11-30T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z',
    ],
    [
      'week',
      'UTC',
      '2026-12-06T23:59:59.999Z',
      '2026-11-30T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z',
    ],
    // Midnight that does not exist: Santiago springs forward at 24:00 (2026-09-06), so the day
    // starts at 01:00 local, 04:00Z.
    [
      'day',
      'America/Santiago',
      '2026-09-06T12:00:00.000Z',
      '2026-09-06T04:00:00.000Z',
      '2026-09-07T03:00:00.000Z',
    ],
  ])('%s in %s at %s is [%s, %s)', (window, zone, at, start, end) => {
    expect(bounds(window, zone, at)).toEqual({ start, end });
  });

  const zones = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'America/Santiago',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
    'Pacific/Chatham',
  ];
  const units = ['day', 'week', 'month'] as const;

  it('holds every instant, and each window starts where the previous one ends', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...units),
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2060, 0, 1) }),
        (unit, zone, now) => {
          const window = parseWindow(unit, 'window', zone);
          const b = windowBounds(window, now);
          expect(b.start).toBeLessThanOrEqual(now);
          expect(b.end).toBeGreaterThan(now);
          expect(windowBounds(window, b.end).start).toBe(b.end);
          expect(windowBounds(window, b.start - 1).end).toBe(b.start);
          const hours = (b.end - b.start) / 3_600_000;
          const [min, max] = { day: [22, 26], week: [166, 170], month: [670, 746] }[unit];
          expect(hours).toBeGreaterThanOrEqual(min);
          expect(hours).toBeLessThanOrEqual(max);
          // The window starts at a local midnight (or the first instant of a day that has none).
          const local = new Intl.DateTimeFormat('en-GB', {
            timeZone: zone,
            hourCycle: 'h23',
            day: 'numeric',
            weekday: 'short',
          }).formatToParts(b.start);
          const part = (t: string) => local.find((p) => p.type === t)?.value;
          if (unit === 'month') expect(part('day')).toBe('1');
          if (unit === 'week') expect(part('weekday')).toBe('Mon');
          const justBefore = new Intl.DateTimeFormat('en-GB', { timeZone: zone, day: 'numeric' });
          expect(justBefore.format(b.start - 1)).not.toBe(justBefore.format(b.start));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('names the zone in the ledger id, so a Berlin month and a UTC month are two ledgers', () => {
    const def = { scope: 'user', key: 'u1', limit: 100, window: 'month' } as const;
    const utc = defineBudget(def);
    const berlin = defineBudget({ ...def, timeZone: 'Europe/Berlin' });
    const berlinAgain = defineBudget({ ...def, timeZone: 'europe/berlin' });
    expect(ledgerIdOf(utc)).toBe('user@month.UTC:u1');
    expect(ledgerIdOf(berlin)).toBe('user@month.Europe/Berlin:u1');
    // Intl's canonical spelling: a zone written in another case is the same ledger.
    expect(ledgerIdOf(berlinAgain)).toBe(ledgerIdOf(berlin));
    expect(ledgerIdOf(defineBudget({ ...def, window: 'day' }))).toBe('user@day.UTC:u1');
    expect(encodeLedgerId('user', 'u1', '2592000000ms')).not.toBe(ledgerIdOf(utc));
  });

  it.each([
    [
      { window: 'month', timeZone: 'Mars/Olympus' },
      `Invalid timeZone of window of budget "user": "Mars/Olympus" is not an IANA time zone`,
    ],
    [
      { window: 'month', timeZone: '' },
      `Invalid timeZone of window of budget "user": "" is not an IANA time zone`,
    ],
    [
      { window: '1h', timeZone: 'UTC' },
      `timeZone "UTC" of window of budget "user" only applies to a calendar window ('day', 'week' or 'month'), but the window is "1h".`,
    ],
    [
      { timeZone: 'UTC' },
      `timeZone "UTC" of budget "user" needs a calendar window ('day', 'week' or 'month').`,
    ],
    [
      { window: 'year' },
      `Invalid window of budget "user": "year". Expected a whole number of milliseconds ≥ 1`,
    ],
  ])('rejects %j with an error naming it', (options, message) => {
    const define = () =>
      defineBudget({ scope: 'user', key: 'u1', limit: 100, ...(options as object) });
    expect(define).toThrow(TokencapConfigError);
    expect(define).toThrow(message);
  });
});
