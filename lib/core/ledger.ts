import { Observable, Subject } from 'rxjs';
import { BudgetExceededError, StoreUnavailableError, TokencapConfigError } from '../errors.js';
import { type Amounts, type Budget, DIMENSIONS, type Dimension, toUserUnits } from './budget.js';
import { type Duration, parseDuration } from './duration.js';
import type { BudgetUsage, DimensionUsage, TokencapEvent, UsageDetails } from './events.js';
import type {
  CommitInput,
  CommitOutcome,
  LedgerSnapshot,
  LedgerStore,
  ReserveOutcome,
} from './ledger-store.interface.js';
import { MemoryLedgerStore } from './memory-ledger.store.js';
import { assertAmounts, assertBudgets, assertUnits } from './ledger-input.guard.js';
import { Reservation } from './reservation.js';

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
   * lets them through, counting usage in this process until the store returns.
   * @default 'fail-closed'
   */
  onStoreError?: StoreErrorMode;
  /** Receives one warning per store outage. @default console */
  logger?: { warn(message: string): void };
}

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
 */
export class Ledger {
  private readonly subject = new Subject<TokencapEvent>();
  /** Every event, hot; completes when the ledger is closed. */
  readonly events$: Observable<TokencapEvent> = this.subject.asObservable();
  readonly store: LedgerStore;
  readonly clock: () => number;
  private readonly reservationTtlMs: number;
  private readonly onStoreError: StoreErrorMode;
  private readonly logger: { warn(message: string): void };
  private fallback: MemoryLedgerStore | undefined;
  private outage = false;

  constructor(options: LedgerOptions = {}) {
    this.store = options.store ?? new MemoryLedgerStore();
    this.clock = options.clock ?? Date.now;
    this.reservationTtlMs = parseDuration(options.reservationTtl ?? '15m', 'reservationTtl');
    this.onStoreError = options.onStoreError ?? 'fail-closed';
    if (this.onStoreError !== 'fail-closed' && this.onStoreError !== 'fail-open') {
      throw new TokencapConfigError(
        `Invalid onStoreError ${JSON.stringify(options.onStoreError)}: expected 'fail-closed' or 'fail-open'.`,
      );
    }
    this.logger = options.logger ?? console;
  }

  /**
   * Reserves on every budget at once, all or nothing.
   * @throws BudgetExceededError when a budget cannot hold the call (a `refused` event fires first).
   * @throws StoreUnavailableError when the store is down and `onStoreError` is `fail-closed`.
   */
  async reserve(budgets: readonly Budget[], request: ReserveRequest): Promise<Reservation> {
    assertBudgets(budgets, 'Ledger.reserve');
    assertAmounts(request?.base, 'Ledger.reserve base');
    if (request.perUnit !== undefined) assertAmounts(request.perUnit, 'Ledger.reserve perUnit');
    assertUnits(request.units, 'Ledger.reserve');
    const now = this.clock();
    const input = {
      reservationId: `${processTag}-${++sequence}`,
      budgets,
      base: request.base,
      perUnit: request.perUnit,
      units: request.units,
      now,
      expiresAt: now + this.reservationTtlMs,
    };
    let held: { result: ReserveOutcome; store: LedgerStore };
    const own = ownSync(this.store, 'reserve');
    if (own) {
      // The in-memory store does no I/O: an exception from it is a bug, never an outage.
      held = { result: own.reserveSync(input), store: own };
      this.recovered();
    } else {
      held = await this.withStore((s) => s.reserve(input));
    }
    const { result: outcome, store } = held;
    if (!outcome.ok) {
      const budget = budgets[outcome.index];
      const dim = outcome.dimension;
      const details = {
        scope: budget.scope,
        key: budget.key,
        dimension: dim,
        policy: budget.policy,
        limit: toUserUnits(dim, budget.limits[dim] as number),
        used: toUserUnits(dim, outcome.snapshot.used[dim] ?? 0),
        reserved: toUserUnits(dim, outcome.snapshot.reserved[dim] ?? 0),
        requested: toUserUnits(dim, outcome.requested),
      };
      this.publish({ type: 'refused', at: now, ...details });
      throw new BudgetExceededError(details);
    }
    return new Reservation(
      this,
      store,
      input.reservationId,
      budgets,
      outcome.units,
      outcome.amounts,
      outcome.snapshots,
    );
  }

  /** Records usage that had no reservation (a client Tokencap does not wrap). Never refuses. */
  async charge(budgets: readonly Budget[], actual: Amounts): Promise<void> {
    assertBudgets(budgets, 'Ledger.charge');
    assertAmounts(actual, 'Ledger.charge');
    await this.settle(this.store, `${processTag}-${++sequence}`, budgets, actual);
  }

  /** Current usage of each budget, in order. */
  async usage(budgets: readonly Budget[]): Promise<BudgetUsage[]> {
    const { result } = await this.withStore((s) => s.snapshot(budgets, this.clock()));
    return budgets.map((b, i) => usageOf(b, result[i]));
  }

  /** Publishes an event on `events$` (used by the client wrappers for `degraded`). */
  publish(event: TokencapEvent): void {
    this.subject.next(event);
  }

  /** Completes `events$` and closes the store. */
  async close(): Promise<void> {
    this.subject.complete();
    await this.store.close?.();
    await this.fallback?.close();
  }

  /**
   * @internal Commits through `store` (the one that holds the reservation) and publishes events.
   * Returns nothing when the store committed synchronously (the in-memory store), else a promise.
   */
  settle(
    store: LedgerStore,
    reservationId: string,
    budgets: readonly Budget[],
    actual: Amounts,
    details?: UsageDetails,
  ): Promise<void> | undefined {
    const now = this.clock();
    const input = { reservationId, budgets, actual, now };
    const own = ownSync(store, 'commit');
    if (own) {
      let outcome: CommitOutcome;
      try {
        outcome = own.commitSync(input);
        if (store === this.store) this.recovered();
      } catch (error) {
        // As in settleAsync: the provider has already billed this call, so count it here.
        this.failed(error);
        outcome = this.local().commitSync(input);
      }
      this.publishCommit(budgets, outcome, now, details);
      return undefined;
    }
    return this.settleAsync(store, input, details);
  }

  private async settleAsync(
    store: LedgerStore,
    input: CommitInput,
    details: UsageDetails | undefined,
  ): Promise<void> {
    const { budgets, now } = input;
    let outcome: CommitOutcome;
    try {
      outcome = await store.commit(input);
      if (store === this.store) this.recovered();
    } catch (error) {
      // The provider has already billed this call: never lose it. Count it here, whatever the mode.
      this.failed(error);
      outcome = await this.local().commit(input);
    }
    this.publishCommit(budgets, outcome, now, details);
  }

  /**
   * @internal Drops a reservation through `store`. Returns nothing when the store released it
   * synchronously (the in-memory store), else a promise.
   */
  drop(
    store: LedgerStore,
    reservationId: string,
    budgets: readonly Budget[],
  ): Promise<void> | undefined {
    const own = ownSync(store, 'release');
    if (own) {
      try {
        own.releaseSync({ reservationId, budgets, now: this.clock() });
      } catch (error) {
        // As in dropAsync: the reservation lapses on its own at expiresAt.
        this.failed(error);
      }
      return undefined;
    }
    return this.dropAsync(store, reservationId, budgets);
  }

  private async dropAsync(
    store: LedgerStore,
    reservationId: string,
    budgets: readonly Budget[],
  ): Promise<void> {
    try {
      await store.release({ reservationId, budgets, now: this.clock() });
    } catch (error) {
      // The reservation lapses on its own at expiresAt; nothing is lost but held capacity.
      this.failed(error);
    }
  }

  private publishCommit(
    budgets: readonly Budget[],
    outcome: CommitOutcome,
    at: number,
    details?: UsageDetails,
  ): void {
    // Events are hot and unbuffered: with no subscriber there is nobody to build them for.
    if (!this.subject.observed) return;
    budgets.forEach((budget, index) => {
      const usage = usageOf(budget, outcome.snapshots[index]);
      this.publish({ type: 'usage', at, ...usage, ...(details && { details }) });
    });
    for (const c of outcome.crossings) {
      const budget = budgets[c.index];
      const used = toUserUnits(c.dimension, outcome.snapshots[c.index].used[c.dimension] ?? 0);
      const limit = toUserUnits(c.dimension, budget.limits[c.dimension] as number);
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
  }

  private async withStore<T>(
    op: (store: LedgerStore) => Promise<T>,
  ): Promise<{ result: T; store: LedgerStore }> {
    try {
      const result = await op(this.store);
      this.recovered();
      return { result, store: this.store };
    } catch (error) {
      return this.afterFailure(error, op);
    }
  }

  /** What {@link withStore} does when the store failed: refuse (fail-closed) or use the local store. */
  private async afterFailure<T>(
    error: unknown,
    op: (store: LedgerStore) => Promise<T>,
  ): Promise<{ result: T; store: LedgerStore }> {
    this.failed(error);
    if (this.onStoreError === 'fail-closed') {
      throw new StoreUnavailableError(
        `The budget store is unavailable, so the call was refused (onStoreError: 'fail-closed'): ${messageOf(error)}`,
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
    this.logger.warn(
      `Tokencap: the budget store failed (${message}); ${this.onStoreError === 'fail-open' ? 'counting usage in this process until it returns' : 'refusing calls until it returns'}.`,
    );
    this.publish({ type: 'store-error', at: this.clock(), mode: this.onStoreError, message });
  }

  private recovered(): void {
    this.outage = false;
  }
}

// The in-memory store's methods are synchronous at heart: call their synchronous forms directly,
// unless the async method was replaced on the instance or in a subclass (a test double, a spy).
const OWN = MemoryLedgerStore.prototype;

function ownSync(
  store: LedgerStore,
  method: 'reserve' | 'commit' | 'release',
): MemoryLedgerStore | undefined {
  return store instanceof MemoryLedgerStore && store[method] === OWN[method] ? store : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Builds the user-facing usage of one budget from a store snapshot. */
export function usageOf(budget: Budget, snapshot: LedgerSnapshot): BudgetUsage {
  const dimensions: Partial<Record<Dimension, DimensionUsage>> = {};
  let primary: Dimension | undefined;
  for (const dim of DIMENSIONS) {
    const limit = budget.limits[dim];
    if (limit === undefined) continue;
    primary ??= dim;
    const used = snapshot.used[dim] ?? 0;
    const reserved = snapshot.reserved[dim] ?? 0;
    dimensions[dim] = {
      limit: toUserUnits(dim, limit),
      used: toUserUnits(dim, used),
      reserved: toUserUnits(dim, reserved),
      remaining: toUserUnits(dim, Math.max(0, limit - used - reserved)),
    };
  }
  const dimension = primary as Dimension;
  return {
    scope: budget.scope,
    key: budget.key,
    dimension,
    ...(dimensions[dimension] as DimensionUsage),
    dimensions,
  };
}
