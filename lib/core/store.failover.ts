import { StoreUnavailableError, TokencapConfigError } from '../errors.js';
import type { LedgerEventPublisher } from './ledger-events.publisher.js';
import type { ResolvedLedgerOptions, StoreErrorMode } from './ledger.options.js';
import type { LedgerStore, MaybePromise } from './ledger-store.interface.js';
import { isPromise } from './maybe-promise.js';
import { MemoryLedgerStore } from './memory-ledger.store.js';
import { messageOf } from './store-error.reader.js';
import { warnSafely, type WarnLogger } from './warn-logger.js';

/** The settlements waiting for the store, written again once it answers. */
export interface PendingSettlements {
  readonly size: number;
  kick(): void;
}

/**
 * A ledger's view of its store's health: runs operations on the store, reports an outage once
 * (a warning and a `store-error` event), and while it lasts refuses calls (`fail-closed`) or runs
 * them on a local in-memory store (`fail-open`). When the store answers again, the settlements
 * waiting for it are written.
 */
export class StoreFailover {
  private readonly store: LedgerStore;
  private readonly clock: () => number;
  private readonly onStoreError: StoreErrorMode;
  private readonly logger: WarnLogger;
  private fallback: MemoryLedgerStore | undefined;
  private outage = false;

  constructor(
    options: ResolvedLedgerOptions,
    private readonly events: LedgerEventPublisher,
    private readonly pending: PendingSettlements,
  ) {
    this.store = options.store;
    this.clock = options.clock;
    this.onStoreError = options.onStoreError;
    this.logger = options.logger;
  }

  /** Runs an operator's operation on the shared store; a failure is reported and thrown. */
  async operate<T>(op: () => MaybePromise<T>): Promise<T> {
    try {
      const result = await op();
      this.recovered();
      return result;
    } catch (error) {
      if (error instanceof TokencapConfigError) throw error;
      this.failed(error);
      throw new StoreUnavailableError(
        `The budget store is unavailable, so the operation was not applied: ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Runs `op` on the store; on failure refuses (fail-closed) or runs it on the local store.
   * `kind` says what a refusal refuses, for its message: a call, or a read of usage.
   */
  withStore<T>(
    op: (store: LedgerStore) => MaybePromise<T>,
    kind: 'call' | 'read' = 'call',
  ): MaybePromise<{ result: T; store: LedgerStore }> {
    let result: MaybePromise<T>;
    try {
      result = op(this.store);
    } catch (error) {
      return this.afterFailure(error, op, kind);
    }
    if (isPromise(result)) {
      return result.then(
        (value) => {
          this.recovered();
          return { result: value, store: this.store };
        },
        (error: unknown) => this.afterFailure(error, op, kind),
      );
    }
    this.recovered();
    return { result, store: this.store };
  }

  private async afterFailure<T>(
    error: unknown,
    op: (store: LedgerStore) => MaybePromise<T>,
    kind: 'call' | 'read',
  ): Promise<{ result: T; store: LedgerStore }> {
    // A store refusing its configuration (a layout, a budget it cannot serve) is not down: the
    // error is the caller's, under fail-open too, so no call runs unshared.
    if (error instanceof TokencapConfigError) throw error;
    this.failed(error);
    if (this.onStoreError === 'fail-closed') {
      throw new StoreUnavailableError(
        `The budget store is unavailable, so ${kind === 'call' ? 'the call was refused' : 'the usage could not be read'} (onStoreError: 'fail-closed'): ${messageOf(error)}`,
        { cause: error },
      );
    }
    const local = this.local();
    return { result: await op(local), store: local };
  }

  /** The local store a fail-open outage counts in. */
  local(): MemoryLedgerStore {
    return (this.fallback ??= new MemoryLedgerStore());
  }

  /** Reports an outage, once until the store answers again. */
  failed(error: unknown): void {
    if (this.outage) return;
    this.outage = true;
    const message = messageOf(error);
    warnSafely(
      this.logger,
      `Tokencap: the budget store failed (${message}); ${this.onStoreError === 'fail-open' ? 'counting usage in this process until it returns' : 'refusing calls until it returns'}.`,
    );
    this.events.publish({
      type: 'store-error',
      at: this.clock(),
      mode: this.onStoreError,
      message,
    });
  }

  /** The store answered: the outage (if any) is over, and what waits for it is written. */
  recovered(): void {
    this.outage = false;
    if (this.pending.size > 0) this.pending.kick();
  }

  /** Closes the local store, if an outage made one. */
  closeFallback(): Promise<void> | undefined {
    return this.fallback?.close();
  }
}
