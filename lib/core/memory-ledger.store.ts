import { createHash } from 'node:crypto';
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

// Shared by every ledger that holds no reservation; replaced by a private object before any write.
const NOTHING: Amounts = Object.freeze({});

// Collections are created on first use and dropped once empty: most session ledgers never hold
// two reservations at once or cross a threshold, and a million idle keys should cost as little
// memory as possible (an empty Map or Set alone costs more heap than the rest of a ledger).
class MemoryLedger {
  used: Amounts = {};
  /** What the held reservations add up to; the shared {@link NOTHING} while none is held. */
  reserved: Amounts = NOTHING;
  reservations: Map<string, HeldReservation> | undefined = undefined;
  private fired: Set<string> | undefined = undefined;
  windowStart = 0;
  evictAt = 0;

  /** Threshold markers already fired in this window (see {@link collectCrossings}). */
  has(marker: string): boolean {
    return this.fired !== undefined && this.fired.has(marker);
  }

  add(marker: string): void {
    (this.fired ??= new Set()).add(marker);
  }

  resetWindow(start: number): void {
    this.windowStart = start;
    this.used = {};
    this.fired = undefined;
  }

  hold(reservationId: string, held: HeldReservation): void {
    if (this.reservations === undefined) {
      this.reservations = new Map();
      this.reserved = {};
    }
    this.reservations.set(reservationId, held);
    add(this.reserved, held.amounts, 1);
  }

  /** Drops a held reservation; false when it is not held. */
  drop(reservationId: string): boolean {
    const held = this.reservations?.get(reservationId);
    if (held === undefined) return false;
    this.unhold(reservationId, held);
    return true;
  }

  expire(now: number): void {
    if (this.reservations === undefined) return;
    for (const [id, held] of this.reservations) {
      if (held.expiresAt <= now) this.unhold(id, held);
    }
  }

  private unhold(reservationId: string, held: HeldReservation): void {
    const reservations = this.reservations as Map<string, HeldReservation>;
    reservations.delete(reservationId);
    if (reservations.size === 0) {
      this.reservations = undefined;
      this.reserved = NOTHING;
    } else {
      add(this.reserved, held.amounts, -1);
    }
  }
}

const EMPTY: LedgerSnapshot = Object.freeze({
  used: Object.freeze({}),
  reserved: Object.freeze({}),
});

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
    return this.reserveSync(input);
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    return this.commitSync(input);
  }

  async release(input: ReleaseInput): Promise<boolean> {
    return this.releaseSync(input);
  }

  // The synchronous forms of reserve, commit and release. The Ledger calls them directly when the
  // async methods are this class's own (not overridden or spied on): each operation then costs no
  // promise at all, which is most of what the in-memory store costs per call.

  /** @internal Synchronous {@link reserve}. */
  reserveSync(input: ReserveInput): ReserveOutcome {
    const ledgers = input.budgets.map((b) => this.ledger(b, input.now, true) as MemoryLedger);
    const decision = decideReservation(input, ledgers);
    if (!decision.ok) return { ...decision, snapshot: snapshotOf(ledgers[decision.index]) };
    const held = { amounts: decision.amounts, expiresAt: input.expiresAt };
    for (const ledger of ledgers) ledger.hold(input.reservationId, held);
    return {
      ok: true,
      units: decision.units,
      amounts: decision.amounts,
      snapshots: ledgers.map(snapshotOf),
    };
  }

  /** @internal Synchronous {@link commit}. */
  commitSync(input: CommitInput): CommitOutcome {
    const crossings: Crossing[] = [];
    let released = false;
    const snapshots = input.budgets.map((budget, index) => {
      const ledger = this.ledger(budget, input.now, true) as MemoryLedger;
      released = ledger.drop(input.reservationId) || released;
      add(ledger.used, input.actual, 1);
      collectCrossings(index, budget, ledger.used, ledger, crossings);
      return snapshotOf(ledger);
    });
    return { snapshots, crossings, released };
  }

  /** @internal Synchronous {@link release}. */
  releaseSync(input: ReleaseInput): boolean {
    let released = false;
    for (const budget of input.budgets) {
      const ledger = this.ledger(budget, input.now, false);
      if (ledger) released = ledger.drop(input.reservationId) || released;
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
      ledger.expire(now);
      if (ledger.evictAt <= now && !ledger.reservations?.size) this.ledgers.delete(id);
    }
  }

  private ledger(budget: Budget, now: number, touch: boolean): MemoryLedger | undefined {
    const id = ledgerId(budget);
    let ledger = this.ledgers.get(id);
    if (ledger) {
      ledger.expire(now);
      if (ledger.evictAt <= now && !ledger.reservations?.size) {
        this.ledgers.delete(id);
        ledger = undefined;
      }
    }
    if (!ledger) {
      if (!touch) return undefined;
      ledger = new MemoryLedger();
      this.ledgers.set(id, ledger);
    }
    if (budget.windowMs !== undefined) {
      const start = windowStart(budget.windowMs, now);
      if (ledger.windowStart !== start) ledger.resetWindow(start);
    }
    if (touch) ledger.evictAt = evictionTime(budget, ledger, now);
    return ledger;
  }
}

// Budget keys often come from clients (a session id header, up to Node's 16 KB header limit).
// Longer ids are kept as their SHA-256, as the Redis store does, so each ledger costs the same
// few hundred bytes however long its key. Scopes cannot start with '~', so no plain id collides.
const MAX_ID_LENGTH = 256;

function ledgerId(budget: Budget): string {
  const { id } = budget;
  if (id.length <= MAX_ID_LENGTH) return id;
  return `~${createHash('sha256').update(id).digest('base64url')}`;
}

function evictionTime(budget: Budget, ledger: MemoryLedger, now: number): number {
  if (budget.ttlMs !== undefined) return now + budget.ttlMs;
  // Past its window a ledger holds nothing but in-flight reservations, so it can go once they settle.
  if (budget.windowMs !== undefined) return ledger.windowStart + budget.windowMs;
  return Infinity;
}

function add(target: Amounts, amounts: Amounts, sign: 1 | -1): void {
  for (const dim in amounts) {
    const value = amounts[dim as Dimension];
    if (!value) continue;
    // Entries that fall to zero stay (deleting would turn the object into a slow dictionary);
    // snapshots leave them out.
    target[dim as Dimension] = (target[dim as Dimension] ?? 0) + sign * value;
  }
}

/** A copy without zero entries, so a snapshot compares equal to a never-charged ledger's. */
function nonZero(amounts: Amounts): Amounts {
  const out: Amounts = {};
  if (amounts.tokens) out.tokens = amounts.tokens;
  if (amounts.usd) out.usd = amounts.usd;
  if (amounts.requests) out.requests = amounts.requests;
  return out;
}

function snapshotOf(ledger: MemoryLedger): LedgerSnapshot {
  return { used: nonZero(ledger.used), reserved: nonZero(ledger.reserved) };
}
