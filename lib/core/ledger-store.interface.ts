import type { Amounts, Budget, Dimension } from './budget.js';

/** One budget's state as a store sees it; amounts in store units. */
export interface LedgerSnapshot {
  /** Committed usage in the current window. */
  used: Amounts;
  /** Usage held by reservations of calls still in flight. */
  reserved: Amounts;
  /**
   * Extra allowance granted for the current window (`Ledger.credit`); absent when none. It raises
   * every budget's limit on this ledger for the window, and goes with it.
   */
  credit?: Amounts;
}

/** What a burn-rate estimate needs besides usage (see lib/core/forecast.ts). */
export interface LedgerActivity {
  /** Commits recorded since {@link since}. */
  commits: number;
  /** When the usage being counted started: the window's start, the ledger's birth or its last reset, whichever is latest. */
  since: number;
}

/** A ledger's full state: its snapshot and its activity. */
export interface LedgerState extends LedgerSnapshot, LedgerActivity {}

/** An operation on one budget's ledger, outside any call (`Ledger.reset`, `Ledger.credit`). */
export interface LedgerOpInput {
  budget: Budget;
  now: number;
}

/** Grants extra allowance for the current window, in store units (each > 0). */
export interface CreditInput extends LedgerOpInput {
  amounts: Amounts;
}

/** Claims a marker in the current window, once across every replica. */
export interface ClaimInput extends LedgerOpInput {
  marker: string;
}

/** The outcome of a reset: the usage it cleared, and the state after it. */
export interface ResetOutcome {
  cleared: Amounts;
  state: LedgerState;
}

/**
 * A reservation request. The store reserves `base + units × perUnit` on every budget at once,
 * choosing the largest `units` in [`units.min`, `units.max`] that every `hard-stop` budget can
 * hold (and no more than a budget's `maxReservation`), or refuses and reserves nothing.
 */
export interface ReserveInput {
  reservationId: string;
  budgets: readonly Budget[];
  /** The fixed part: prompt tokens, one request, the prompt's price. */
  base: Amounts;
  /** The cost of one flexible unit (one output token). @default { tokens: 1 } */
  perUnit?: Amounts;
  /**
   * Flexible units wanted. `max` may be `Infinity` (no output cap): hard-stop budgets clamp it to
   * what they have left; when nothing clamps it, `ifUnbounded` units are reserved.
   */
  units?: { min: number; max: number; ifUnbounded: number };
  /** Epoch ms. */
  now: number;
  /** The reservation lapses at this epoch ms if never committed or released, so a crash cannot leak it. */
  expiresAt: number;
}

/** The outcome of a reservation. `snapshots` follow the order of `budgets`. */
export type ReserveOutcome =
  | { ok: true; units: number; amounts: Amounts; snapshots: LedgerSnapshot[] }
  | {
      ok: false;
      /** Index in `budgets` of the budget that refused. */
      index: number;
      dimension: Dimension;
      snapshot: LedgerSnapshot;
      /** What the call needed in that dimension, in store units. */
      requested: number;
    };

/**
 * What a store does with a commit whose reservation it neither holds nor remembers (see
 * {@link CommitInput.ifUnknown}).
 */
export type UnknownReservationMode = 'charge' | 'skip' | 'charge-once';

/**
 * Records actual usage and drops the reservation (if it is still held).
 *
 * Commits settle a reservation once per ledger: a held reservation is dropped and its usage
 * recorded; a reservation that lapsed uncommitted is remembered for `SETTLEMENT_MEMORY_MS` past its
 * expiry, and a commit for it is recorded (a slow call is still charged) once. What happens to a
 * reservation id the store knows nothing of (committed already, or never reserved here, or its
 * state was lost) is `ifUnknown`'s choice.
 */
export interface CommitInput {
  reservationId: string;
  budgets: readonly Budget[];
  actual: Amounts;
  now: number;
  /**
   * - `charge`: record the usage (usage is never dropped for want of a reservation).
   * - `skip`: record nothing, unless the ledger started after `reservedAt` (it was evicted, or lost
   *   with a Redis restart, since the reservation was made: it never held it) or has no state at
   *   all. The Ledger retries with this after an attempt whose reply it never saw: if that attempt
   *   ran, the reservation is gone because it committed it.
   * - `charge-once`: record the usage and remember the id for `SETTLEMENT_MEMORY_MS`, so a retry
   *   of the same id records nothing (usage without a reservation: `Ledger.charge`, fail-open
   *   replays).
   * @default 'charge'
   */
  ifUnknown?: UnknownReservationMode;
  /** When the reservation was made (epoch ms, ledger clock), for `ifUnknown: 'skip'`. */
  reservedAt?: number;
  /**
   * Other declarations of the ledgers this commit charges (each shares scope, key and window with
   * one of `budgets`), so that usage charged through one declaration fires the others' thresholds
   * too. A sibling is neither charged nor touched (its `ttl` does not keep the ledger): after the
   * commit it fires the thresholds and exhaustion the ledger's usage has reached under its own
   * limits, once per declared limit and window, as a budget of the commit would. A store that does
   * not support them ignores them (and reports nothing for them).
   */
  siblings?: readonly Budget[];
}

/** A threshold or the limit itself first reached by a commit. */
export interface Crossing {
  index: number;
  dimension: Dimension;
  /** The threshold fraction; `1` with `exhausted: true` when the limit itself was reached. */
  threshold: number;
  exhausted: boolean;
}

/**
 * The outcome of a commit. `snapshots`, `activity` and crossing indexes follow the order of
 * `budgets`, then of `siblings` (index `budgets.length + j` is `siblings[j]`).
 */
export interface CommitOutcome {
  snapshots: LedgerSnapshot[];
  /**
   * Thresholds first reached in the current window, ascending per budget and dimension: the
   * budgets' first, then the siblings'.
   */
  crossings: Crossing[];
  /** Whether the reservation was still held (false if it had been released or had lapsed). */
  released: boolean;
  /** Each budget's activity after the commit, for burn-rate forecasts; a store without it forecasts nothing. */
  activity?: LedgerActivity[];
}

/** Drops a reservation without recording usage. Idempotent: releasing twice drops it once. */
export interface ReleaseInput {
  reservationId: string;
  budgets: readonly Budget[];
  now: number;
}

/**
 * Moves a held reservation's expiry to `expiresAt` (its call is still running in this process).
 * A reservation no longer held (settled, or lapsed already) is left alone.
 */
export interface ExtendInput {
  reservationId: string;
  budgets: readonly Budget[];
  /** Epoch ms. */
  expiresAt: number;
  now: number;
}

/** A value, or a promise of it: stores that do no I/O answer synchronously. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where ledgers live. Every operation is atomic across all the budgets it names, and every
 * duration is in milliseconds. Implementations: `MemoryLedgerStore` (answers synchronously),
 * `RedisLedgerStore` (answers with promises); callers handle both.
 *
 * A ledger is identified by its budget's scope, key and window (`ledgerIdOf`). Budgets of one call
 * that share a ledger are held and charged once, and each is checked against its own limit and
 * policy and fires its own thresholds.
 *
 * A store error may carry `mayHaveApplied: false` to say the operation certainly changed nothing
 * (it was never sent, or ran past its deadline); otherwise the Ledger assumes it may have applied.
 */
export interface LedgerStore {
  /** Holds `input`'s amounts on every budget, or refuses naming the first budget that cannot. */
  reserve(input: ReserveInput): MaybePromise<ReserveOutcome>;
  /** Charges actual usage and drops the reservation's hold, at most once per reservation id. */
  commit(input: CommitInput): MaybePromise<CommitOutcome>;
  /** `true` when the reservation was held and is now dropped, `false` if it was already gone. */
  release(input: ReleaseInput): MaybePromise<boolean>;
  /**
   * Moves a held reservation's expiry later (the Ledger keeps the reservations of calls still
   * running alive, so `reservationTtl` bounds only what a crashed process holds). `true` when a
   * budget still held it. A store without it lets reservations lapse after `reservationTtl`,
   * running or not.
   */
  extend?(input: ExtendInput): MaybePromise<boolean>;
  /** Current state of each budget, in order; a budget never charged reads as zero. */
  snapshot(budgets: readonly Budget[], now: number): MaybePromise<LedgerSnapshot[]>;
  /** Like {@link snapshot}, with each ledger's activity (for `usage()`'s burn rate). */
  inspect?(budgets: readonly Budget[], now: number): MaybePromise<LedgerState[]>;
  /**
   * Starts the current window afresh: clears usage, fired thresholds and the burn rate, keeps
   * reservations in flight (their commits count in the fresh window) and credits.
   */
  reset?(input: LedgerOpInput): MaybePromise<ResetOutcome>;
  /** Adds to the window's credit, and re-arms the thresholds usage no longer reaches under the raised limit. */
  credit?(input: CreditInput): MaybePromise<LedgerState>;
  /** Adds `marker` to the window's fired markers; `true` if it was not there yet. */
  claim?(input: ClaimInput): MaybePromise<boolean>;
  /**
   * Stops timers and releases what the store created (never a client the user passed in), trying
   * until `deadline` (epoch ms) to write what it still holds. Resolves the usage it could not write
   * (the Ledger reports it), if any.
   */
  close?(deadline?: number): Promise<void | readonly UnwrittenUsage[]>;
  /**
   * Stores that record usage outside calls (the Redis store's leases settle later, in the
   * background) report the thresholds those writes cross here; the Ledger publishes them.
   */
  subscribeSettlements?(
    listener: (budgets: readonly Budget[], outcome: CommitOutcome, at: number) => void,
  ): void;
}

/**
 * Usage a store recorded outside the Ledger's calls (a Redis lease's spending) and could not write
 * before it closed.
 */
export interface UnwrittenUsage {
  reservationId: string;
  budgets: readonly Budget[];
  /** In store units. */
  actual: Amounts;
}
