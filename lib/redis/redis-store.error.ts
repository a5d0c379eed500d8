import { TokencapConfigError, TokencapError } from '../errors.js';

/** Why a Redis operation failed. */
export type RedisStoreErrorReason =
  /** Redis did not answer within `commandTimeout`. */
  | 'timeout'
  /** The client is not connected (reconnecting or closed), so the command was not sent. */
  | 'unavailable'
  /** A script replied with something other than what it returns: a wrong server, proxy or script. */
  | 'malformed-reply'
  /** Redis Cluster refused a script whose keys span several hash slots (the store's own check throws {@link RedisConfigError}). */
  | 'cross-slot'
  /** Redis answered with an error. */
  | 'redis'
  /** The store was handed a value it cannot encode (a non-finite amount, an unknown policy). */
  | 'invalid-input';

/**
 * A Redis operation of {@link RedisLedgerStore} failed. The `Ledger` turns it into a `store-error`
 * event and, under `onStoreError: 'fail-closed'`, a `StoreUnavailableError` carrying it as `cause`;
 * a commit or release that failed is retried until Redis takes it.
 */
export class RedisStoreError extends TokencapError {
  /**
   * Whether the script may have run although the call failed (its reply was lost or late):
   * `false` when it certainly changed nothing (never sent, refused by Redis, or past its deadline).
   * The Ledger uses it so a retried commit never counts twice.
   */
  readonly mayHaveApplied: boolean;

  constructor(
    readonly reason: RedisStoreErrorReason,
    message: string,
    options?: { cause?: unknown; mayHaveApplied?: boolean },
  ) {
    super(message, options);
    this.mayHaveApplied =
      options?.mayHaveApplied ??
      (reason === 'timeout' || reason === 'redis' || reason === 'malformed-reply');
  }
}

/**
 * A call the store's configuration cannot serve: its budgets span hash slots (`cross-slot`), the
 * `hashTag` function returned a bad tag or `lease.budgets` chose a `degrade` budget
 * (`invalid-input`). Nothing was sent. The `Ledger` rethrows it as is: a configuration error is
 * never a store outage, so `fail-open` never runs such a call unshared.
 */
export class RedisConfigError extends TokencapConfigError {
  /** Always false: the store refused the call before sending anything. */
  readonly mayHaveApplied = false;

  constructor(
    readonly reason: 'cross-slot' | 'invalid-input',
    message: string,
  ) {
    super(message);
  }
}
