import type { Observable } from 'rxjs';
import { BudgetExceededError, TokencapConfigError } from '../errors.js';
import { type Amounts, type Budget, type Dimension, resetOf, toUserUnits } from './budget.js';
import { activityOf, usageOf, userAmounts } from './budget-usage.builder.js';
import type { BudgetUsage, SettledCall, TokencapEvent, UsageDetails } from './events.js';
import { LedgerEventPublisher } from './ledger-events.publisher.js';
import { effectiveLimit } from './ledger-rules.js';
import type {
  LedgerSnapshot,
  LedgerState,
  LedgerStore,
  MaybePromise,
  ReserveInput,
  ReserveOutcome,
} from './ledger-store.interface.js';
import {
  assertAmounts,
  assertBudgets,
  assertUnits,
  creditAmounts,
  wholeCounts,
} from './ledger-input.guard.js';
import { type LedgerOptions, resolveLedgerOptions } from './ledger.options.js';
import { andThen, isPromise } from './maybe-promise.js';
import type { MemoryLedgerStore } from './memory-ledger.store.js';
import { Reservation } from './reservation.js';
import { LapsedHoldRecovery } from './lapsed-hold.recovery.js';
import { ReservationRenewalKeeper } from './reservation-renewal.keeper.js';
import { SettlementRetryQueue } from './settlement-retry.queue.js';
import { NO_USAGE, newSettlement, type Settlement } from './settlement.job.js';
import { SettlementWriter } from './settlement.writer.js';
import { SiblingDeclarations, type SiblingSource } from './sibling-declarations.js';
import { mayHaveApplied } from './store-error.reader.js';
import { StoreFailover } from './store.failover.js';

export { usageOf } from './budget-usage.builder.js';
export {
  type LedgerOptions,
  MIN_RESERVATION_TTL_MS,
  type StoreErrorMode,
} from './ledger.options.js';

/** What a call asks to reserve: a fixed part plus as many flexible units (output tokens) as fit. */
export interface ReserveRequest {
  base: Amounts;
  /** @default { tokens: 1 } */
  perUnit?: Amounts;
  /** @default { min: 0, max: 0, ifUnbounded: 0 } */
  units?: { min: number; max: number; ifUnbounded: number };
}

let sequence = 0;
const processTag = Math.random().toString(36).slice(2, 10);

/**
 * The budget engine: two-phase spending (reserve, then commit or release) over any
 * {@link LedgerStore}, and the event stream. Framework-free; the Nest module owns one per app.
 *
 * Settlement is durable: a commit or release the store does not take (an outage, a lost reply) is
 * retried in the background until it does, without making the caller wait, and counted once
 * whatever the retries (see docs/redis.md, "When Redis fails").
 */
export class Ledger {
  /** Every event, hot; completes when the ledger is closed. */
  readonly events$: Observable<TokencapEvent>;
  /** One record per metered call as it settles, hot; completes when the ledger is closed. */
  readonly calls$: Observable<SettledCall>;
  readonly store: LedgerStore;
  /** Epoch ms, as windows and reservation lifetimes read it. */
  readonly clock: () => number;
  private readonly reservationTtlMs: number;
  private readonly closeTimeoutMs: number;
  private readonly publisher: LedgerEventPublisher;
  private readonly pending: SettlementRetryQueue<Settlement>;
  private readonly failover: StoreFailover;
  private readonly writer: SettlementWriter;
  /** Other declarations of the ledgers a commit charges, whose thresholds it fires too. */
  private readonly siblings = new SiblingDeclarations();
  /** Unsettled reservations, renewed in the store until they settle. */
  private readonly renewals: ReservationRenewalKeeper<Reservation>;

  constructor(options: LedgerOptions = {}) {
    const resolved = resolveLedgerOptions(options);
    this.store = resolved.store;
    this.clock = resolved.clock;
    this.reservationTtlMs = resolved.reservationTtlMs;
    this.closeTimeoutMs = resolved.closeTimeoutMs;
    this.publisher = new LedgerEventPublisher(this.store);
    this.events$ = this.publisher.events$;
    this.calls$ = this.publisher.calls$;
    // A store without `extend` lets every reservation lapse after the ttl: nothing to recover.
    const recovery =
      this.store.extend === undefined
        ? undefined
        : new LapsedHoldRecovery(this.store, resolved, this.publisher, this.reservationTtlMs);
    this.renewals = new ReservationRenewalKeeper<Reservation>(
      this.clock,
      this.reservationTtlMs,
      recovery && ((reservation) => recovery.recover(reservation)),
    );
    this.store.subscribeSettlements?.((budgets, outcome, at) =>
      this.publisher.publishCommit(budgets, undefined, outcome, at, undefined, 'crossings'),
    );
    this.pending = new SettlementRetryQueue(
      (job) => this.writer.write(job),
      (job, reason) =>
        this.writer.giveUp(
          [job],
          reason === 'full'
            ? 'too many settlements were waiting for the store'
            : 'the ledger was closed before the store took it',
        ),
    );
    this.failover = new StoreFailover(resolved, this.publisher, this.pending);
    this.writer = new SettlementWriter(resolved, this.publisher, this.failover, this.pending);
  }

  /** Commits and releases waiting to be written to the store (it was down, or lost a reply). */
  get pendingSettlements(): number {
    return this.pending.size;
  }

  /**
   * Reserves on every budget at once, all or nothing.
   * @throws BudgetExceededError when a budget cannot hold the call (a `refused` event fires first).
   * @throws StoreUnavailableError when the store is down and `onStoreError` is `fail-closed`.
   */
  async reserve(budgets: readonly Budget[], request: ReserveRequest): Promise<Reservation> {
    return this.reserveNow(budgets, request);
  }

  /**
   * @internal {@link reserve}, without a promise when the store answers synchronously (the
   * in-memory store): then it returns the reservation, or throws.
   */
  reserveNow(budgets: readonly Budget[], request: ReserveRequest): MaybePromise<Reservation> {
    assertBudgets(budgets, 'Ledger.reserve');
    assertAmounts(request?.base, 'Ledger.reserve base');
    if (request.perUnit !== undefined) assertAmounts(request.perUnit, 'Ledger.reserve perUnit');
    assertUnits(request.units, 'Ledger.reserve');
    const now = this.clock();
    const input: ReserveInput = {
      reservationId: `${processTag}-${++sequence}`,
      budgets,
      base: wholeCounts(request.base),
      perUnit: request.perUnit,
      units: request.units,
      now,
      expiresAt: now + this.reservationTtlMs,
    };
    const held = this.failover.withStore((s) =>
      s === this.store ? this.reserveOrRelease(s, input) : s.reserve(input),
    );
    return andThen(held, ({ result, store }) => this.held(input, result, store));
  }

  /** The reservation a store granted, or the refusal it answered (published, then thrown). */
  private held(input: ReserveInput, outcome: ReserveOutcome, store: LedgerStore): Reservation {
    const { budgets, now } = input;
    if (!outcome.ok) {
      const budget = budgets[outcome.index];
      // A declaration refused here is one of its ledger's: later usage through its siblings
      // fires its thresholds and exhaustion.
      this.siblings.record(budget, now);
      const dim = outcome.dimension;
      const details = {
        scope: budget.scope,
        key: budget.key,
        dimension: dim,
        policy: budget.policy,
        limit: toUserUnits(dim, effectiveLimit(budget, dim, outcome.snapshot.credit)),
        used: toUserUnits(dim, outcome.snapshot.used[dim] ?? 0),
        reserved: toUserUnits(dim, outcome.snapshot.reserved[dim] ?? 0),
        requested: toUserUnits(dim, outcome.requested),
      };
      this.publisher.publish({ type: 'refused', at: now, ...details });
      throw new BudgetExceededError({ ...details, resetsAt: resetOf(budget, now) });
    }
    const reservation = new Reservation(
      this,
      store,
      input.reservationId,
      budgets,
      outcome.units,
      outcome.amounts,
      outcome.snapshots,
      input.expiresAt,
    );
    this.renewals.keepAlive(reservation);
    return reservation;
  }

  /**
   * Records usage that had no reservation (a client Tokencap does not wrap). Never refuses. If the
   * store does not take it, it is retried in the background (counted once) and this resolves.
   */
  async charge(budgets: readonly Budget[], actual: Amounts): Promise<void> {
    assertBudgets(budgets, 'Ledger.charge');
    assertAmounts(actual, 'Ledger.charge');
    const job = newSettlement(
      'commit',
      `${processTag}-${++sequence}`,
      budgets,
      wholeCounts(actual),
    );
    job.ifUnknown = 'charge-once';
    job.siblings = this.siblings.siblingsOf(budgets, this.clock());
    await this.writer.submit(job);
  }

  /**
   * Reserves on the shared store. A reserve whose reply was lost (the error says it may have
   * applied) may hold capacity nobody will settle: a release of its id goes to the settlement
   * retry queue, written once the store answers (a no-op if the reserve never ran), so the
   * capacity comes back before the reservation would lapse.
   */
  private reserveOrRelease(store: LedgerStore, input: ReserveInput): MaybePromise<ReserveOutcome> {
    let result: MaybePromise<ReserveOutcome>;
    try {
      result = store.reserve(input);
    } catch (error) {
      return this.leaked(input, error);
    }
    return isPromise(result) ? result.catch((error: unknown) => this.leaked(input, error)) : result;
  }

  /** A reserve that failed: released later if it may have applied, and the error thrown on. */
  private leaked(input: ReserveInput, error: unknown): never {
    if (mayHaveApplied(error)) {
      this.pending.add(newSettlement('release', input.reservationId, input.budgets, NO_USAGE));
    }
    throw error;
  }

  /** Current usage of each budget, in order, with burn rates when the store reports them. */
  async usage(budgets: readonly Budget[]): Promise<BudgetUsage[]> {
    assertBudgets(budgets, 'Ledger.usage');
    const now = this.clock();
    const read = this.failover.withStore<LedgerSnapshot[] | LedgerState[]>(
      (s) => (s.inspect ? s.inspect(budgets, now) : s.snapshot(budgets, now)),
      'read',
    );
    const { result } = isPromise(read) ? await read : read;
    return budgets.map((b, i) => usageOf(b, result[i], now, activityOf(result[i])));
  }

  /**
   * Starts `budget`'s current window afresh, atomically with calls in flight: clears its usage,
   * fired thresholds and burn rate; reservations in flight stay held and their commits count in
   * the fresh window; credits stay. Publishes a `reset` event. Usage kept by the local fallback
   * store during a fail-open outage is not reset.
   * @throws StoreUnavailableError when the store is down (whatever `onStoreError`: an operation on
   *   the shared ledger is never applied to a local copy).
   */
  async reset(budget: Budget): Promise<BudgetUsage> {
    assertBudgets([budget], 'Ledger.reset');
    const store = this.store;
    if (!store.reset) throw unsupported('reset');
    const now = this.clock();
    const { cleared, state } = await this.failover.operate(() => store.reset!({ budget, now }));
    const usage = usageOf(budget, state, now, state);
    this.publisher.publish({
      type: 'reset',
      scope: budget.scope,
      key: budget.key,
      at: now,
      cleared: userAmounts(cleared),
      usage,
    });
    return usage;
  }

  /**
   * Grants `budget`'s ledger extra allowance for its current window, atomically with calls in
   * flight: its limits are raised by `amounts` (user units: dollars for `usd`) until the window
   * ends, thresholds and forecasts are measured against the raised limit, and the ones usage no
   * longer reaches fire again. Publishes a `credit` event.
   * @throws TokencapConfigError naming a bad amount, or a dimension the budget does not limit.
   * @throws StoreUnavailableError when the store is down.
   */
  async credit(budget: Budget, amounts: Partial<Record<Dimension, number>>): Promise<BudgetUsage> {
    assertBudgets([budget], 'Ledger.credit');
    const stored = creditAmounts(budget, amounts);
    const store = this.store;
    if (!store.credit) throw unsupported('credit');
    const now = this.clock();
    const state = await this.failover.operate(() =>
      store.credit!({ budget, amounts: stored, now }),
    );
    const usage = usageOf(budget, state, now, state);
    this.publisher.publish({
      type: 'credit',
      scope: budget.scope,
      key: budget.key,
      at: now,
      granted: userAmounts(stored),
      usage,
    });
    return usage;
  }

  /**
   * @internal Names other declarations of a budget's ledger (the Nest module: the app's `@Budget`s
   * of its scope and window), so usage charged through one fires the others' thresholds too.
   */
  addSiblingSource(source: SiblingSource): void {
    this.siblings.addSource(source);
  }

  /** Publishes an event on `events$` (used by the client wrappers for `degraded`). */
  publish(event: TokencapEvent): void {
    this.publisher.publish(event);
  }

  /** Whether anyone listens to {@link calls$} (a metered call builds its record only then). */
  get callsObserved(): boolean {
    return this.publisher.callsObserved;
  }

  /** Publishes a settled call on `calls$` (used by the metered call). */
  publishCall(call: SettledCall): void {
    this.publisher.publishCall(call);
  }

  /**
   * Writes the commits and releases still waiting for the store (for up to `closeTimeout`),
   * reports those it could not write (a warning and a `store-error` event listing each), then
   * completes `events$` and closes the store.
   */
  async close(): Promise<void> {
    // Real time, not the ledger's clock (which a test may have frozen).
    const deadline = Date.now() + this.closeTimeoutMs;
    this.renewals.close();
    const left = await this.pending.close(deadline);
    if (left.length > 0) this.writer.giveUp(left, 'the ledger closed before the store took them');
    // The store first: what it settles on closing (Redis leases) may cross thresholds to publish.
    const lost = await this.store.close?.(deadline);
    if (lost && lost.length > 0) {
      this.writer.giveUp(
        lost.map((u) => newSettlement('commit', u.reservationId, u.budgets, u.actual)),
        'the store closed before it could write them',
      );
    }
    this.publisher.complete();
    await this.failover.closeFallback();
  }

  /**
   * @internal Commits through `store` (the one that holds the reservation) and publishes events.
   * Returns nothing when the store committed synchronously (the in-memory store), else a promise
   * that resolves once the commit was written or queued for retry.
   */
  settle(
    store: LedgerStore,
    reservationId: string,
    budgets: readonly Budget[],
    actual: Amounts,
    details?: UsageDetails,
    expiresAt?: number,
  ): Promise<void> | undefined {
    this.renewals.forget(reservationId);
    const job = newSettlement(
      'commit',
      reservationId,
      budgets,
      wholeCounts(actual),
      details,
      expiresAt,
    );
    job.siblings = this.siblings.siblingsOf(budgets, this.clock());
    if (store !== this.store) return this.writer.replay(store as MemoryLedgerStore, job);
    return this.writer.submit(job);
  }

  /** @internal Drops a reservation through `store`, like {@link settle}. */
  drop(
    store: LedgerStore,
    reservationId: string,
    budgets: readonly Budget[],
  ): Promise<void> | undefined {
    this.renewals.forget(reservationId);
    // A reservation held by the local fallback holds nothing in the shared store.
    if (store !== this.store) {
      (store as MemoryLedgerStore).release({ reservationId, budgets, now: this.clock() });
      return undefined;
    }
    return this.writer.submit(newSettlement('release', reservationId, budgets, NO_USAGE));
  }
}

function unsupported(operation: string): TokencapConfigError {
  return new TokencapConfigError(
    `The ledger's store does not support ${operation}(): use MemoryLedgerStore or RedisLedgerStore, or implement LedgerStore.${operation}.`,
  );
}
