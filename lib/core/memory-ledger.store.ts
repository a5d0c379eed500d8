import type { Amounts, Budget, Dimension } from './budget.js';
import { type Duration, parseDuration } from './duration.js';
import { collectCrossings, decideReservation, windowStart } from './ledger-rules.js';
import type {
  CommitInput,
  CommitOutcome,
  Crossing,
  LedgerSnapshot,
  LedgerStore,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
} from './ledger-store.interface.js';

/** Options of {@link MemoryLedgerStore}. */
export interface MemoryLedgerStoreOptions {
  /** How often idle ledgers are swept; `false` sweeps only on access. @default '1m' */
  sweepInterval?: Duration | false;
  /** Clock for the sweep (tests inject one). @default Date.now */
  clock?: () => number;
}

interface HeldReservation {
  amounts: Amounts;
  expiresAt: number;
}

// Collections are created on first use: most session ledgers never hold two reservations at once
// or cross a threshold, and a million idle keys should cost as little memory as possible.
interface MemoryLedger {
  used: Amounts;
  reserved: Amounts;
  reservations: Map<string, HeldReservation> | undefined;
  fired: Set<string> | undefined;
  windowStart: number;
  evictAt: number;
}

const EMPTY: LedgerSnapshot = Object.freeze({ used: Object.freeze({}), reserved: Object.freeze({}) });

/**
 * The default store: ledgers in this process's memory, no network. Atomic because each operation
 * runs to completion on the event loop. Idle ledgers (past their `ttl`, or past their window with
 * nothing in flight) are evicted on access and by one unref'd sweep, so memory stays bounded.
 */
export class MemoryLedgerStore implements LedgerStore {
  private readonly ledgers = new Map<string, MemoryLedger>();
  private readonly clock: () => number;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryLedgerStoreOptions = {}) {
    this.clock = options.clock ?? Date.now;
    const interval = options.sweepInterval ?? '1m';
    if (interval !== false) {
      const ms = parseDuration(interval, 'sweepInterval of MemoryLedgerStore');
      this.sweeper = setInterval(() => this.sweep(this.clock()), ms);
      this.sweeper.unref();
    }
  }

  /** Number of ledgers held (for tests and memory measurements). */
  get size(): number {
    return this.ledgers.size;
  }

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const ledgers = input.budgets.map((b) => this.ledger(b, input.now, true) as MemoryLedger);
    const decision = decideReservation(input, ledgers);
    if (!decision.ok) return { ...decision, snapshot: snapshotOf(ledgers[decision.index]) };
    for (const ledger of ledgers) {
      ledger.reservations ??= new Map();
      ledger.reservations.set(input.reservationId, { amounts: decision.amounts, expiresAt: input.expiresAt });
      add(ledger.reserved, decision.amounts, 1);
    }
    return { ok: true, units: decision.units, amounts: decision.amounts, snapshots: ledgers.map(snapshotOf) };
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    const crossings: Crossing[] = [];
    let released = false;
    const snapshots = input.budgets.map((budget, index) => {
      const ledger = this.ledger(budget, input.now, true) as MemoryLedger;
      released = drop(ledger, input.reservationId) || released;
      add(ledger.used, input.actual, 1);
      ledger.fired ??= new Set();
      collectCrossings(index, budget, ledger.used, ledger.fired, crossings);
      return snapshotOf(ledger);
    });
    return { snapshots, crossings, released };
  }

  async release(input: ReleaseInput): Promise<boolean> {
    let released = false;
    for (const budget of input.budgets) {
      const ledger = this.ledger(budget, input.now, false);
      if (ledger) released = drop(ledger, input.reservationId) || released;
    }
    return released;
  }

  async snapshot(budgets: readonly Budget[], now: number): Promise<LedgerSnapshot[]> {
    return budgets.map((b) => {
      const ledger = this.ledger(b, now, false);
      return ledger ? snapshotOf(ledger) : EMPTY;
    });
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Evicts every ledger that is idle at `now`. Runs on the sweep timer; public for tests. */
  sweep(now: number): void {
    for (const [id, ledger] of this.ledgers) {
      expireReservations(ledger, now);
      if (ledger.evictAt <= now && !ledger.reservations?.size) this.ledgers.delete(id);
    }
  }

  private ledger(budget: Budget, now: number, touch: boolean): MemoryLedger | undefined {
    let ledger = this.ledgers.get(budget.id);
    if (ledger) {
      expireReservations(ledger, now);
      if (ledger.evictAt <= now && !ledger.reservations?.size) {
        this.ledgers.delete(budget.id);
        ledger = undefined;
      }
    }
    if (!ledger) {
      if (!touch) return undefined;
      ledger = { used: {}, reserved: {}, reservations: undefined, fired: undefined, windowStart: 0, evictAt: 0 };
      this.ledgers.set(budget.id, ledger);
    }
    if (budget.windowMs !== undefined) {
      const start = windowStart(budget.windowMs, now);
      if (ledger.windowStart !== start) {
        ledger.windowStart = start;
        ledger.used = {};
        ledger.fired = undefined;
      }
    }
    if (touch) ledger.evictAt = evictionTime(budget, ledger, now);
    return ledger;
  }
}

function evictionTime(budget: Budget, ledger: MemoryLedger, now: number): number {
  if (budget.ttlMs !== undefined) return now + budget.ttlMs;
  // Past its window a ledger holds nothing but in-flight reservations, so it can go once they settle.
  if (budget.windowMs !== undefined) return ledger.windowStart + budget.windowMs;
  return Infinity;
}

function expireReservations(ledger: MemoryLedger, now: number): void {
  if (!ledger.reservations) return;
  for (const [id, held] of ledger.reservations) {
    if (held.expiresAt <= now) {
      ledger.reservations.delete(id);
      add(ledger.reserved, held.amounts, -1);
    }
  }
}

function drop(ledger: MemoryLedger, reservationId: string): boolean {
  const held = ledger.reservations?.get(reservationId);
  if (!held) return false;
  ledger.reservations!.delete(reservationId);
  add(ledger.reserved, held.amounts, -1);
  return true;
}

function add(target: Amounts, amounts: Amounts, sign: 1 | -1): void {
  for (const dim in amounts) {
    const value = amounts[dim as Dimension];
    if (!value) continue;
    const next = (target[dim as Dimension] ?? 0) + sign * value;
    // Zero entries are removed so snapshots compare equal to a never-charged ledger's.
    if (next === 0) delete target[dim as Dimension];
    else target[dim as Dimension] = next;
  }
}

function snapshotOf(ledger: MemoryLedger): LedgerSnapshot {
  return { used: { ...ledger.used }, reserved: { ...ledger.reserved } };
}
