import { TokencapError } from '../errors.js';

/** Why a Redis operation failed. */
export type RedisStoreErrorReason =
  /** Redis did not answer within `commandTimeout`. */
  | 'timeout'
  /** The client is not connected (reconnecting or closed), so the command was not sent. */
  | 'unavailable'
  /** A script replied with something other than what it returns: a wrong server, proxy or script. */
  | 'malformed-reply'
  /** Redis Cluster refused a script whose keys span several hash slots. */
  | 'cross-slot'
  /** Redis answered with an error. */
  | 'redis'
  /** The store was handed a value it cannot encode (a non-finite amount, an unknown policy). */
  | 'invalid-input';

/**
 * A Redis operation of {@link RedisLedgerStore} failed. The `Ledger` turns it into a `store-error`
 * event and, under `onStoreError: 'fail-closed'`, a `StoreUnavailableError` carrying it as `cause`.
 */
export class RedisStoreError extends TokencapError {
  constructor(
    readonly reason: RedisStoreErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
