import { Observable, Subject } from 'rxjs';
import { BudgetExceededError, StoreUnavailableError, TokencapConfigError } from '../errors.js';
import {
  type Amounts,
  type Budget,
  DIMENSIONS,
  type Dimension,
  resetOf,
  toUserUnits,
} from './budget.js';
import { type Duration, parseDuration } from './duration.js';
import type {
  BudgetUsage,
  DimensionUsage,
  SettledCall,
  TokencapEvent,
  UnwrittenSettlement,
  UsageDetails,
} from './events.js';
import { project } from './forecast.js';
import { ledgerIdOf } from './ledger-id.js';
import { SETTLEMENT_MEMORY_MS, effectiveLimit, forecastMarker } from './ledger-rules.js';
import type {
  CommitInput,
  CommitOutcome,
  LedgerActivity,
  LedgerSnapshot,
  LedgerState,
  LedgerStore,
  MaybePromise,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
  UnknownReservationMode,
} from './ledger-store.interface.js';
import { assertKnownOptions } from './known-options.guard.js';
import { MemoryLedgerStore } from './memory-ledger.store.js';
import { assertAmounts, assertBudgets, assertUnits, creditAmounts } from './ledger-input.guard.js';
import { andThen, isPromise } from './maybe-promise.js';
import { Reservation } from './reservation.js';
import { SettlementRetryQueue } from './settlement-retry.queue.js';
import { assertWarnLogger, warnSafely, type WarnLogger } from './warn-logger.js';
import { SiblingDeclarations, type SiblingSource } from './sibling-declarations.js';

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

/** What a call asks to reserve: a fixed part plus as many flexible units (output tokens) as fit. */
export interface ReserveRequest {
  base: Amounts;
  /** @default { tokens: 1 } */
  perUnit?: Amounts;
  /** @default { min: 0, max: 0, ifUnbounded: 0 } */
  units?: { min: number; max: number; ifUnbounded: number };
}

/**
 * One commit or release on its way to the shared store: it is its own store input (so the common
 * case, written at once, allocates nothing more) plus what a retry needs.
 */
interface Settlement extends CommitInput {
  kind: 'commit' | 'release';
  details: UsageDetails | undefined;
  /** When the reservation lapses in the store; undefined for usage without a reservation. */
  expiresAt: number | undefined;
  /** Usage counted elsewhere already (fail-open replays): only its crossings are published. */
  replay: boolean;
  /** An attempt failed in a way that may have applied it (its reply was lost). */
  ambiguous: boolean;
  /** Counted in the local fallback store (fail-open) while waiting for the shared one. */
  countedLocally: boolean;
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
  private readonly subject = new Subject<TokencapEvent>();
  /** Every event, hot; completes when the ledger is closed. */
  readonly events$: Observable<TokencapEvent> = this.subject.asObservable();
  private readonly callSubject = new Subject<SettledCall>();
  /** One record per metered call as it settles, hot; completes when the ledger is closed. */
  readonly calls$: Observable<SettledCall> = this.callSubject.asObservable();
  readonly store: LedgerStore;
  /** Epoch ms, as windows and reservation lifetimes read it. */
  readonly clock: () => number;
  private readonly reservationTtlMs: number;
  private readonly closeTimeoutMs: number;
  private readonly onStoreError: StoreErrorMode;
  private readonly logger: WarnLogger;
  private readonly pending: SettlementRetryQueue<Settlement>;
  private fallback: MemoryLedgerStore | undefined;
  private outage = false;
  /** Forecast markers this process claimed lately, by ledger and marker, until when (see forecast). */
  private readonly claimed = new Map<string, number>();
  /** Other declarations of the ledgers a commit charges, whose thresholds it fires too. */
  private readonly siblings = new SiblingDeclarations();
  /**
   * Unsettled reservations, renewed in the store until they settle (see {@link keepAlive}). Weak:
   * a reservation nobody can settle any more (dropped by a caller) is left to lapse.
   */
  private readonly live = new Map<string, WeakRef<Reservation>>();
  private renewTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: LedgerOptions = {}) {
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
    this.store = options.store ?? new MemoryLedgerStore();
    this.clock = options.clock ?? Date.now;
    this.reservationTtlMs = parseDuration(options.reservationTtl ?? '15m', 'reservationTtl');
    if (this.reservationTtlMs < MIN_RESERVATION_TTL_MS) {
      // Shorter than a call's round trip: reservations would lapse while their calls run, and a
      // lapsed reservation holds nothing, so concurrent calls would overspend.
      throw new TokencapConfigError(
        `Invalid reservationTtl ${JSON.stringify(options.reservationTtl)}: expected at least ` +
          `${MIN_RESERVATION_TTL_MS} ms ('1s'); keep it above your longest call (default '15m').`,
      );
    }
    this.closeTimeoutMs = parseDuration(options.closeTimeout ?? '2s', 'closeTimeout');
    this.onStoreError = options.onStoreError ?? 'fail-closed';
    if (this.onStoreError !== 'fail-closed' && this.onStoreError !== 'fail-open') {
      throw new TokencapConfigError(
        `Invalid onStoreError ${JSON.stringify(options.onStoreError)}: expected 'fail-closed' or 'fail-open'.`,
      );
    }
    this.logger = options.logger ?? console;
    this.store.subscribeSettlements?.((budgets, outcome, at) =>
      this.publishCommit(budgets, undefined, outcome, at, undefined, 'crossings'),
    );
    this.pending = new SettlementRetryQueue(
      (job) => this.write(job),
      (job, reason) =>
        this.giveUp(
          [job],
          reason === 'full'
            ? 'too many settlements were waiting for the store'
            : 'the ledger was closed before the store took it',
        ),
    );
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
    const held = this.withStore((s) =>
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
      this.publish({ type: 'refused', at: now, ...details });
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
    this.keepAlive(reservation);
    return reservation;
  }

  /**
   * Keeps a reservation held while its call runs: `reservationTtl` bounds what a crashed process
   * holds, not how long a live call may take (a call outliving its reservation would let other
   * calls spend what it held, and a `request` budget be evicted under it). One unref'd timer per
   * ledger, running while reservations are unsettled, ticks every third of the ttl and renews each
   * reservation older than half a tick, so each is renewed with at least half the ttl left.
   */
  private keepAlive(reservation: Reservation): void {
    if (reservation.expiresAt === undefined) return;
    this.live.set(reservation.id, new WeakRef(reservation));
    if (this.renewTimer !== undefined) return;
    this.renewTimer = setInterval(() => this.renewLive(), this.renewPeriodMs());
    this.renewTimer.unref?.();
  }

  /** A third of the ttl (within what a timer can wait). */
  private renewPeriodMs(): number {
    return Math.min(Math.floor(this.reservationTtlMs / 3), MAX_TIMER_MS);
  }

  private renewLive(): void {
    const now = this.clock();
    const ttl = this.reservationTtlMs;
    const stale = ttl - this.renewPeriodMs() / 2;
    for (const [id, ref] of this.live) {
      const reservation = ref.deref();
      if (reservation === undefined || reservation.isSettled) {
        this.live.delete(id);
        continue;
      }
      // Renewed (or made) less than half a period ago: the next tick is soon enough.
      if ((reservation.expiresAt as number) - now > stale) continue;
      const held = reservation.renew(now + ttl, now);
      if (isPromise(held)) {
        void held.then((still) => still || this.live.delete(id));
      } else if (!held) {
        this.live.delete(id);
      }
    }
    if (this.live.size === 0) this.stopRenewing();
  }

  private stopRenewing(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /**
   * Records usage that had no reservation (a client Tokencap does not wrap). Never refuses. If the
   * store does not take it, it is retried in the background (counted once) and this resolves.
   */
  async charge(budgets: readonly Budget[], actual: Amounts): Promise<void> {
    assertBudgets(budgets, 'Ledger.charge');
    assertAmounts(actual, 'Ledger.charge');
    const job = this.settlement(
      'commit',
      `${processTag}-${++sequence}`,
      budgets,
      wholeCounts(actual),
    );
    job.ifUnknown = 'charge-once';
    job.siblings = this.siblings.siblingsOf(budgets, this.clock());
    await this.submit(job);
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
      this.pending.add(this.settlement('release', input.reservationId, input.budgets, NO_USAGE));
    }
    throw error;
  }

  /** Current usage of each budget, in order, with burn rates when the store reports them. */
  async usage(budgets: readonly Budget[]): Promise<BudgetUsage[]> {
    assertBudgets(budgets, 'Ledger.usage');
    const now = this.clock();
    const read = this.withStore<LedgerSnapshot[] | LedgerState[]>(
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
    const { cleared, state } = await this.operate(() => store.reset!({ budget, now }));
    const usage = usageOf(budget, state, now, state);
    this.publish({
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
    const state = await this.operate(() => store.credit!({ budget, amounts: stored, now }));
    const usage = usageOf(budget, state, now, state);
    this.publish({
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
    this.subject.next(event);
  }

  /** Whether anyone listens to {@link calls$} (a metered call builds its record only then). */
  get callsObserved(): boolean {
    return this.callSubject.observed;
  }

  /** Publishes a settled call on `calls$` (used by the metered call). */
  publishCall(call: SettledCall): void {
    this.callSubject.next(call);
  }

  /**
   * Writes the commits and releases still waiting for the store (for up to `closeTimeout`),
   * reports those it could not write (a warning and a `store-error` event listing each), then
   * completes `events$` and closes the store.
   */
  async close(): Promise<void> {
    // Real time, not the ledger's clock (which a test may have frozen).
    const deadline = Date.now() + this.closeTimeoutMs;
    this.stopRenewing();
    this.live.clear();
    const left = await this.pending.close(deadline);
    if (left.length > 0) this.giveUp(left, 'the ledger closed before the store took them');
    // The store first: what it settles on closing (Redis leases) may cross thresholds to publish.
    const lost = await this.store.close?.(deadline);
    if (lost && lost.length > 0) {
      this.giveUp(
        lost.map((u) => this.settlement('commit', u.reservationId, u.budgets, u.actual)),
        'the store closed before it could write them',
      );
    }
    this.subject.complete();
    this.callSubject.complete();
    await this.fallback?.close();
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
    this.live.delete(reservationId);
    const job = this.settlement(
      'commit',
      reservationId,
      budgets,
      wholeCounts(actual),
      details,
      expiresAt,
    );
    job.siblings = this.siblings.siblingsOf(budgets, this.clock());
    if (store !== this.store) return this.replay(store as MemoryLedgerStore, job);
    return this.submit(job);
  }

  /** @internal Drops a reservation through `store`, like {@link settle}. */
  drop(
    store: LedgerStore,
    reservationId: string,
    budgets: readonly Budget[],
  ): Promise<void> | undefined {
    this.live.delete(reservationId);
    // A reservation held by the local fallback holds nothing in the shared store.
    if (store !== this.store) {
      (store as MemoryLedgerStore).release({ reservationId, budgets, now: this.clock() });
      return undefined;
    }
    return this.submit(this.settlement('release', reservationId, budgets, NO_USAGE));
  }

  private settlement(
    kind: Settlement['kind'],
    reservationId: string,
    budgets: readonly Budget[],
    actual: Amounts,
    details?: UsageDetails,
    expiresAt?: number,
  ): Settlement {
    return {
      kind,
      reservationId,
      budgets,
      actual,
      now: 0,
      ifUnknown: 'charge',
      details,
      expiresAt,
      replay: false,
      ambiguous: false,
      countedLocally: false,
    };
  }

  /** Writes a settlement now; if the store does not take it, queues it for retry. */
  private submit(job: Settlement): Promise<void> | undefined {
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
  private replay(local: MemoryLedgerStore, job: Settlement): undefined {
    job.now = this.clock();
    const outcome = local.commit(job);
    // Its thresholds are published when the shared store records it (which holds the budget's
    // whole usage): published here too, from a local count that started at zero, they would fire
    // twice, and at a usage the budget never had.
    this.publishCommit(job.budgets, job.siblings, outcome, job.now, job.details, 'usage');
    job.replay = true;
    job.ifUnknown = 'charge-once';
    this.pending.add(job);
    return undefined;
  }

  /**
   * One attempt at writing a settlement to the shared store: the only path, first try or retry,
   * synchronous store or not. Returns whether the store took it.
   */
  private write(job: Settlement): MaybePromise<boolean> {
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
    this.recovered();
    if (job.kind === 'commit') {
      this.publishCommit(
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
    this.failed(error);
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
      this.local().commit({ ...job, ifUnknown: 'charge' });
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

  /**
   * Publishes a commit's events: a `usage` per budget charged, then the thresholds and exhaustion
   * it crossed (of `charged`, then of their ledgers' `siblings`), then forecasts.
   */
  private publishCommit(
    charged: readonly Budget[],
    siblings: readonly Budget[] | undefined,
    outcome: CommitOutcome,
    at: number,
    details: UsageDetails | undefined,
    publish: 'all' | 'usage' | 'crossings',
  ): void {
    // Events are hot and unbuffered: with no subscriber there is nobody to build them for.
    if (!this.subject.observed) return;
    if (publish !== 'crossings') {
      charged.forEach((budget, index) => {
        const usage = usageOf(budget, outcome.snapshots[index], at, outcome.activity?.[index]);
        this.publish({ type: 'usage', at, ...usage, ...(details && { details }) });
      });
    }
    if (publish === 'usage') return;
    // The outcome's indexes run over the budgets charged, then the siblings.
    const budgets = siblings === undefined ? charged : [...charged, ...siblings];
    for (const c of outcome.crossings) {
      const budget = budgets[c.index];
      const snapshot = outcome.snapshots[c.index];
      const used = toUserUnits(c.dimension, snapshot.used[c.dimension] ?? 0);
      const limit = toUserUnits(c.dimension, effectiveLimit(budget, c.dimension, snapshot.credit));
      const base = {
        scope: budget.scope,
        key: budget.key,
        at,
        dimension: c.dimension,
        used,
        limit,
      };
      this.publish(
        c.exhausted
          ? { type: 'exhausted', ...base }
          : { type: 'threshold', ...base, threshold: c.threshold },
      );
    }
    if (outcome.activity !== undefined) this.forecast(budgets, outcome, at);
  }

  /**
   * Publishes a `forecast` for each budget and dimension that, at its burn rate, runs out before
   * its window ends: once per window across replicas, by claiming its marker in the store.
   */
  private forecast(budgets: readonly Budget[], outcome: CommitOutcome, at: number): void {
    const store = this.store;
    if (!store.claim) return;
    // A store that ignores siblings reports only the budgets charged.
    const count = Math.min(budgets.length, outcome.snapshots.length);
    for (let i = 0; i < count; i++) {
      const budget = budgets[i];
      const snapshot = outcome.snapshots[i];
      for (const dim of Object.keys(budget.limits) as Dimension[]) {
        const p = project(budget, dim, snapshot, outcome.activity?.[i], at);
        if (!p.beforeEnd) continue;
        const marker = forecastMarker(dim, budget.limits[dim] as number);
        // A claim costs a round trip; a replica that claimed (or saw claimed) this marker lately
        // does not ask again for a minute.
        const memo = `${ledgerIdOf(budget)}|${marker}`;
        if ((this.claimed.get(memo) ?? -Infinity) > at) continue;
        if (this.claimed.size >= 10_000) this.claimed.clear();
        this.claimed.set(memo, Math.min(p.windowEnd ?? Infinity, at + 60_000));
        const event = {
          type: 'forecast' as const,
          scope: budget.scope,
          key: budget.key,
          at,
          dimension: dim,
          used: toUserUnits(dim, snapshot.used[dim] ?? 0),
          limit: toUserUnits(dim, effectiveLimit(budget, dim, snapshot.credit)),
          rate: toUserUnits(dim, (p.rate as number) * 1000),
          projectedExhaustion: p.exhaustion as number,
          windowEnd: p.windowEnd ?? null,
        };
        let claimed: MaybePromise<boolean>;
        try {
          claimed = store.claim({ budget, marker, now: at });
        } catch {
          this.claimed.delete(memo);
          continue;
        }
        if (!isPromise(claimed)) {
          if (claimed) this.publish(event);
          continue;
        }
        claimed.then(
          (won) => won && this.publish(event),
          // Not claimed: the next commit that still projects exhaustion claims it.
          () => this.claimed.delete(memo),
        );
      }
    }
  }

  /** Runs an operator's operation on the shared store; a failure is reported and thrown. */
  private async operate<T>(op: () => MaybePromise<T>): Promise<T> {
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
  private withStore<T>(
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

  private local(): MemoryLedgerStore {
    return (this.fallback ??= new MemoryLedgerStore());
  }

  private failed(error: unknown): void {
    if (this.outage) return;
    this.outage = true;
    const message = messageOf(error);
    warnSafely(
      this.logger,
      `Tokencap: the budget store failed (${message}); ${this.onStoreError === 'fail-open' ? 'counting usage in this process until it returns' : 'refusing calls until it returns'}.`,
    );
    this.publish({ type: 'store-error', at: this.clock(), mode: this.onStoreError, message });
  }

  private recovered(): void {
    this.outage = false;
    if (this.pending.size > 0) this.pending.kick();
  }

  /** Reports settlements that will never be written: one warning and one `store-error` event. */
  private giveUp(jobs: readonly Settlement[], why: string): void {
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
    this.publish({
      type: 'store-error',
      at: this.clock(),
      mode: this.onStoreError,
      message,
      unwritten,
    });
  }
}

const NO_USAGE: Amounts = Object.freeze({});

const LEDGER_OPTIONS: readonly (keyof LedgerOptions)[] = [
  'store',
  'clock',
  'reservationTtl',
  'onStoreError',
  'logger',
  'closeTimeout',
];
/** The longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The shortest `reservationTtl` a Ledger accepts. */
export const MIN_RESERVATION_TTL_MS = 1_000;

/**
 * Amounts in store units are whole: tokens, requests, and money as micro-dollars (so totals never
 * drift). A fraction (an estimate, a caller's own arithmetic) is rounded up, never down, so
 * rounding can only over-count.
 */
function wholeCounts(amounts: Amounts): Amounts {
  const { tokens, requests, usd } = amounts;
  if (
    (tokens === undefined || Number.isInteger(tokens)) &&
    (requests === undefined || Number.isInteger(requests)) &&
    (usd === undefined || Number.isInteger(usd))
  ) {
    return amounts;
  }
  const whole: Amounts = { ...amounts };
  if (tokens !== undefined) whole.tokens = Math.ceil(tokens);
  if (requests !== undefined) whole.requests = Math.ceil(requests);
  if (usd !== undefined) whole.usd = Math.ceil(usd);
  return whole;
}

function activityOf(state: LedgerSnapshot | LedgerState): LedgerActivity | undefined {
  return 'commits' in state ? state : undefined;
}

function userAmounts(amounts: Amounts): Partial<Record<Dimension, number>> {
  const out: Partial<Record<Dimension, number>> = {};
  for (const dim of DIMENSIONS) {
    if (amounts[dim]) out[dim] = toUserUnits(dim, amounts[dim]);
  }
  return out;
}

function unsupported(operation: string): TokencapConfigError {
  return new TokencapConfigError(
    `The ledger's store does not support ${operation}(): use MemoryLedgerStore or RedisLedgerStore, or implement LedgerStore.${operation}.`,
  );
}

function describeSettlement(job: Settlement): UnwrittenSettlement {
  const out: UnwrittenSettlement = {
    kind: job.kind,
    reservationId: job.reservationId,
    budgets: job.budgets.map((b) => ({ scope: b.scope, key: b.key })),
  };
  if (job.kind === 'commit') {
    const amounts: Partial<Record<Dimension, number>> = {};
    for (const dim of DIMENSIONS) {
      const value = job.actual[dim];
      if (value !== undefined) amounts[dim] = toUserUnits(dim, value);
    }
    out.amounts = amounts;
  }
  return out;
}

/** Whether a store error leaves open that the operation ran (see LedgerStore). */
function mayHaveApplied(error: unknown): boolean {
  return (error as { mayHaveApplied?: unknown } | null)?.mayHaveApplied !== false;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Builds the user-facing usage of one budget from a store snapshot at `now`, with its burn rate
 * when the store reported the ledger's `activity`.
 */
export function usageOf(
  budget: Budget,
  snapshot: LedgerSnapshot,
  now: number,
  activity?: LedgerActivity,
): BudgetUsage {
  const dimensions: Partial<Record<Dimension, DimensionUsage>> = {};
  let primary: Dimension | undefined;
  let windowEnd: number | null = null;
  for (const dim of DIMENSIONS) {
    if (budget.limits[dim] === undefined) continue;
    primary ??= dim;
    const limit = effectiveLimit(budget, dim, snapshot.credit);
    const used = snapshot.used[dim] ?? 0;
    const reserved = snapshot.reserved[dim] ?? 0;
    const projection = project(budget, dim, snapshot, activity, now);
    windowEnd = projection.windowEnd ?? null;
    dimensions[dim] = {
      limit: toUserUnits(dim, limit),
      used: toUserUnits(dim, used),
      reserved: toUserUnits(dim, reserved),
      remaining: toUserUnits(dim, Math.max(0, limit - used - reserved)),
      credit: toUserUnits(dim, snapshot.credit?.[dim] ?? 0),
      burnRate: projection.rate === undefined ? null : toUserUnits(dim, projection.rate * 1000),
      projectedExhaustion: projection.exhaustion ?? null,
    };
  }
  const dimension = primary as Dimension;
  return {
    scope: budget.scope,
    key: budget.key,
    dimension,
    ...(dimensions[dimension] as DimensionUsage),
    dimensions,
    windowEnd,
  };
}
