import { TokencapConfigError } from '../errors.js';
import type { LedgerEventPublisher } from './ledger-events.publisher.js';
import type { ResolvedLedgerOptions, StoreErrorMode } from './ledger.options.js';
import { SETTLEMENT_MEMORY_MS } from './ledger-rules.js';
import type {
  CommitOutcome,
  LedgerStore,
  MaybePromise,
  ReleaseInput,
  UnknownReservationMode,
} from './ledger-store.interface.js';
import { isPromise } from './maybe-promise.js';
import type { MemoryLedgerStore } from './memory-ledger.store.js';
import type { SettlementRetryQueue } from './settlement-retry.queue.js';
import { describeSettlement, type Settlement } from './settlement.job.js';
import { mayHaveApplied } from './store-error.reader.js';
import type { StoreFailover } from './store.failover.js';
import { warnSafely, type WarnLogger } from './warn-logger.js';

/**
 * Writes a ledger's commits and releases to its store, durably: one the store does not take (an
 * outage, a lost reply) is queued and retried until it does, counted once whatever the retries,
 * and reported when it is given up.
 */
export class SettlementWriter {
  private readonly store: LedgerStore;
  private readonly clock: () => number;
  private readonly reservationTtlMs: number;
  private readonly onStoreError: StoreErrorMode;
  private readonly logger: WarnLogger;

  constructor(
    options: ResolvedLedgerOptions,
    private readonly events: LedgerEventPublisher,
    private readonly failover: StoreFailover,
    private readonly pending: SettlementRetryQueue<Settlement>,
  ) {
    this.store = options.store;
    this.clock = options.clock;
    this.reservationTtlMs = options.reservationTtlMs;
    this.onStoreError = options.onStoreError;
    this.logger = options.logger;
  }

  /** Writes a settlement now; if the store does not take it, queues it for retry. */
  submit(job: Settlement): Promise<void> | undefined {
    const written = this.write(job);
    if (typeof written === 'boolean') {
      if (!written) this.pending.add(job);
      return undefined;
    }
    return written.then((ok) => {
      if (!ok) this.pending.add(job);
    });
  }

  /**
   * A commit of a reservation held by the local fallback (made during a fail-open outage): counted
   * there now, and queued for the shared store, which records it once when it answers again.
   */
  replay(local: MemoryLedgerStore, job: Settlement): undefined {
    job.now = this.clock();
    const outcome = local.commit(job);
    // Its thresholds are published when the shared store records it (which holds the budget's
    // whole usage): published here too, from a local count that started at zero, they would fire
    // twice, and at a usage the budget never had.
    this.events.publishCommit(job.budgets, job.siblings, outcome, job.now, job.details, 'usage');
    job.replay = true;
    job.ifUnknown = 'charge-once';
    this.pending.add(job);
    return undefined;
  }

  /**
   * One attempt at writing a settlement to the shared store: the only path, first try or retry,
   * synchronous store or not. Returns whether the store took it.
   */
  write(job: Settlement): MaybePromise<boolean> {
    job.now = this.clock();
    if (job.kind === 'commit' && !job.replay && job.ifUnknown !== 'charge-once') {
      job.ifUnknown = this.unknownMode(job);
    }
    if (job.expiresAt !== undefined) job.reservedAt = job.expiresAt - this.reservationTtlMs;
    let result: MaybePromise<CommitOutcome | boolean>;
    try {
      result =
        job.kind === 'commit' ? this.store.commit(job) : this.store.release(job as ReleaseInput);
    } catch (error) {
      return this.notWritten(job, error);
    }
    if (isPromise(result)) {
      return result.then(
        (outcome) => this.written(job, outcome),
        (error: unknown) => this.notWritten(job, error),
      );
    }
    return this.written(job, result);
  }

  private written(job: Settlement, outcome: CommitOutcome | boolean): true {
    this.failover.recovered();
    if (job.kind === 'commit') {
      this.events.publishCommit(
        job.budgets,
        job.siblings,
        outcome as CommitOutcome,
        job.now,
        job.details,
        job.replay ? 'crossings' : 'all',
      );
    }
    return true;
  }

  private notWritten(job: Settlement, error: unknown): false {
    // A configuration error is the caller's to fix, and no retry would succeed: not queued.
    if (error instanceof TokencapConfigError) throw error;
    this.failover.failed(error);
    if (mayHaveApplied(error)) job.ambiguous = true;
    // Under fail-open, calls go on counting in this process: the usage waiting for the store is
    // part of it (silently: its events come when the store records it).
    if (
      this.onStoreError === 'fail-open' &&
      job.kind === 'commit' &&
      !job.replay &&
      !job.countedLocally
    ) {
      job.countedLocally = true;
      this.failover.local().commit({ ...job, ifUnknown: 'charge' });
    }
    return false;
  }

  /**
   * How the store should treat a reservation it no longer holds. After an attempt that may have
   * applied (its reply was lost), a missing reservation means that attempt committed it: skip.
   * Once the store may have forgotten a lapsed reservation (SETTLEMENT_MEMORY_MS past its expiry),
   * charge again rather than risk losing the usage: an error, if any, counts too much.
   */
  private unknownMode(job: Settlement): UnknownReservationMode {
    if (!job.ambiguous) return 'charge';
    const forgetsAt = (job.expiresAt ?? -Infinity) + SETTLEMENT_MEMORY_MS;
    return job.now < forgetsAt ? 'skip' : 'charge';
  }

  /** Reports settlements that will never be written: one warning and one `store-error` event. */
  giveUp(jobs: readonly Settlement[], why: string): void {
    const unwritten = jobs.map(describeSettlement);
    const list = unwritten
      .map(
        (u) =>
          `${u.kind} ${u.reservationId} on ${u.budgets.map((b) => `${b.scope}:${JSON.stringify(b.key.slice(0, 64))}`).join(', ')}` +
          (u.amounts ? ` (${JSON.stringify(u.amounts)})` : ''),
      )
      .join('; ');
    const message = `${jobs.length} settlement(s) not written to the budget store (${why}): ${list}`;
    warnSafely(this.logger, `Tokencap: ${message}.`);
    this.events.publish({
      type: 'store-error',
      at: this.clock(),
      mode: this.onStoreError,
      message,
      unwritten,
    });
  }
}
