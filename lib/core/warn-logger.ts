import { TokencapConfigError } from '../errors.js';

/** What every `logger` option takes: something with a `warn(message)` method. */
export interface WarnLogger {
  warn(message: string): void;
}

/**
 * Checks a `logger` option when it is given: a logger without `warn` would only fail when the
 * first warning comes (a store outage, a label cap), far from where it was configured.
 * @throws TokencapConfigError naming `where` (the option).
 */
export function assertWarnLogger(logger: unknown, where: string): asserts logger is WarnLogger {
  if (logger !== undefined && typeof (logger as Partial<WarnLogger> | null)?.warn !== 'function') {
    throw new TokencapConfigError(
      `Invalid ${where}: expected an object with a warn(message) method.`,
    );
  }
}

/**
 * Logs a warning without letting the logger's own failure escape: a warning accompanies what
 * happens (a call let through, a metric recorded as `other`) and must never undo it.
 */
export function warnSafely(logger: WarnLogger, message: string): void {
  try {
    logger.warn(message);
  } catch {
    // Nowhere left to report it.
  }
}
