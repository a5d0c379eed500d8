import { TokencapConfigError } from '../errors.js';
import { type Duration, parseDuration } from './duration.js';
import { assertKnownOptions } from './known-options.guard.js';
import type { LedgerStore } from './ledger-store.interface.js';
import { MemoryLedgerStore } from './memory-ledger.store.js';
import { assertWarnLogger, type WarnLogger } from './warn-logger.js';

/** What to do when the store fails. */
export type StoreErrorMode = 'fail-closed' | 'fail-open';

/** Options of {@link Ledger}. */
export interface LedgerOptions {
  /** @default new MemoryLedgerStore() */
  store?: LedgerStore;
  /** @default Date.now */
  clock?: () => number;
  /** A reservation never committed or released lapses after this long, so a crash cannot leak it. @default '15m' */
  reservationTtl?: Duration;
  /**
   * `fail-closed` refuses calls with `StoreUnavailableError` while the store is down; `fail-open`
   * lets them through, counting usage in this process until the store returns (and then writing
   * it to the store).
   * @default 'fail-closed'
   */
  onStoreError?: StoreErrorMode;
  /** Receives one warning per store outage, and one per settlement given up. @default console */
  logger?: {
    /** Called with one line per warning. */
    warn(message: string): void;
  };
  /**
   * How long `close()` keeps retrying commits and releases the store has not taken yet before it
   * gives them up (reporting each).
   * @default '2s'
   */
  closeTimeout?: Duration;
}

/** The shortest `reservationTtl` a Ledger accepts. */
export const MIN_RESERVATION_TTL_MS = 1_000;

/** {@link LedgerOptions} checked, with their defaults filled in. */
export interface ResolvedLedgerOptions {
  readonly store: LedgerStore;
  readonly clock: () => number;
  readonly reservationTtlMs: number;
  readonly closeTimeoutMs: number;
  readonly onStoreError: StoreErrorMode;
  readonly logger: WarnLogger;
}

const LEDGER_OPTIONS: readonly (keyof LedgerOptions)[] = [
  'store',
  'clock',
  'reservationTtl',
  'onStoreError',
  'logger',
  'closeTimeout',
];

/**
 * Checks the options of a Ledger and fills in their defaults.
 * @throws TokencapConfigError naming the bad option.
 */
export function resolveLedgerOptions(options: LedgerOptions): ResolvedLedgerOptions {
  if (options === null || typeof options !== 'object') {
    throw new TokencapConfigError(
      `Invalid options of Ledger ${JSON.stringify(options)}: expected an object.`,
    );
  }
  assertKnownOptions(options, LEDGER_OPTIONS, 'Ledger');
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw new TokencapConfigError(
      `Invalid Ledger option "clock": expected a function returning epoch ms, got ${options.clock === null ? 'null' : typeof options.clock}.`,
    );
  }
  assertWarnLogger(options.logger, 'Ledger option "logger"');
  const store = options.store ?? new MemoryLedgerStore();
  const clock = options.clock ?? Date.now;
  const reservationTtlMs = parseDuration(options.reservationTtl ?? '15m', 'reservationTtl');
  if (reservationTtlMs < MIN_RESERVATION_TTL_MS) {
    // Shorter than a call's round trip: reservations would lapse while their calls run, and a
    // lapsed reservation holds nothing, so concurrent calls would overspend.
    throw new TokencapConfigError(
      `Invalid reservationTtl ${JSON.stringify(options.reservationTtl)}: expected at least ` +
        `${MIN_RESERVATION_TTL_MS} ms ('1s'); keep it above your longest call (default '15m').`,
    );
  }
  const closeTimeoutMs = parseDuration(options.closeTimeout ?? '2s', 'closeTimeout');
  const onStoreError = options.onStoreError ?? 'fail-closed';
  if (onStoreError !== 'fail-closed' && onStoreError !== 'fail-open') {
    throw new TokencapConfigError(
      `Invalid onStoreError ${JSON.stringify(options.onStoreError)}: expected 'fail-closed' or 'fail-open'.`,
    );
  }
  const logger = options.logger ?? console;
  return { store, clock, reservationTtlMs, closeTimeoutMs, onStoreError, logger };
}
