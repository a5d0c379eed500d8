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
 * When a budget's usage starts afresh. Every window a store uses goes through {@link windowBounds},
 * so a new kind of window (calendar days in a time zone) needs no change in the stores or the
 * Redis scripts, which only ever see the bounds.
 */
export type BudgetWindow = FixedWindow;

/** The window holding a moment: `start <= now < end`, epoch ms. */
export interface WindowBounds {
  readonly start: number;
  readonly end: number;
}

/**
 * Parses a budget's `window` option (`'1h'`, `'1d'`, ms).
 * @param what names the option in the error message, e.g. `'window of budget "session"'`.
 * @throws TokencapConfigError naming the value.
 */
export function parseWindow(value: unknown, what: string): BudgetWindow {
  const ms = parseDuration(value, what);
  return Object.freeze({ kind: 'fixed', ms, tag: `${ms}ms` });
}

/** The bounds of the window that holds `now`: the one rule both stores and the Redis scripts follow. */
export function windowBounds(window: BudgetWindow, now: number): WindowBounds {
  // A floored modulo, so a clock before the epoch (a test's) still gets start <= now.
  const offset = ((now % window.ms) + window.ms) % window.ms;
  const start = now - offset;
  return { start, end: start + window.ms };
}
