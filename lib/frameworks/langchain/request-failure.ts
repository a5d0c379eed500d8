import {
  connectionDropped,
  httpStatusOf,
  neverConnected,
} from '../../metering/connection-failure.js';

/** How an attempt that failed before its answer was read is settled. */
export type FailedAttempt = 'release' | 'charge';

/**
 * The same rules as the SDK wrappers': an HTTP error response (400, 429, 500, 529, …) or a
 * connection never made is billed nothing (released). A request the caller aborted after it left,
 * or whose connection dropped before the response (reset, closed by the other side, a timeout),
 * may have reached the provider, which runs it: charged, fail closed, so a budget stops the
 * retries. Any other error (thrown by the model's own code before anything was sent) is released
 * on a plain call; a stream is charged its estimate, as a stream that failed after it began.
 */
export function failedAttempt(error: unknown, aborted: boolean, stream: boolean): FailedAttempt {
  if (httpStatusOf(error) !== undefined) return 'release';
  if (aborted || connectionDropped(error)) return 'charge';
  if (neverConnected(error)) return 'release';
  return stream ? 'charge' : 'release';
}
