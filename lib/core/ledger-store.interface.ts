import type { Amounts, Budget, Dimension } from './budget.js';

/** One budget's state as a store sees it; amounts in store units. */
export interface LedgerSnapshot {
  /** Committed usage in the current window. */
  used: Amounts;
  /** Usage held by reservations of calls still in flight. */
  reserved: Amounts;
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

/** Records actual usage and drops the reservation (if it is still held). */
export interface CommitInput {
  reservationId: string;
  budgets: readonly Budget[];
  actual: Amounts;
  now: number;
}

/** A threshold or the limit itself first reached by a commit. */
export interface Crossing {
  index: number;
  dimension: Dimension;
  /** The threshold fraction; `1` with `exhausted: true` when the limit itself was reached. */
  threshold: number;
  exhausted: boolean;
}

/** The outcome of a commit. `snapshots` follow the order of `budgets`. */
export interface CommitOutcome {
  snapshots: LedgerSnapshot[];
  /** Thresholds first reached by this commit in the current window, ascending per budget and dimension. */
  crossings: Crossing[];
  /** Whether the reservation was still held (false if it had been released or had lapsed). */
  released: boolean;
}

/** Drops a reservation without recording usage. */
export interface ReleaseInput {
  reservationId: string;
  budgets: readonly Budget[];
  now: number;
}

/**
 * Where ledgers live. Every operation is atomic across all the budgets it names, and every
 * duration is in milliseconds. Implementations: `MemoryLedgerStore`, `RedisLedgerStore`.
 */
export interface LedgerStore {
  reserve(input: ReserveInput): Promise<ReserveOutcome>;
  commit(input: CommitInput): Promise<CommitOutcome>;
  /** Resolves `true` when the reservation was held and is now dropped, `false` if it was already gone. */
  release(input: ReleaseInput): Promise<boolean>;
  /** Current state of each budget, in order; a budget never charged reads as zero. */
  snapshot(budgets: readonly Budget[], now: number): Promise<LedgerSnapshot[]>;
  /** Stops timers and releases what the store created (never a client the user passed in). */
  close?(): Promise<void>;
}
