import type { Amounts, Budget, Dimension } from './budget.js';
import { addUsage } from './ledger-rules.js';
import type { LedgerActivity } from './ledger-store.interface.js';

/** A reservation a ledger holds. */
export interface HeldReservation {
  readonly id: string;
  amounts: Amounts;
  expiresAt: number;
}

// Shared by every ledger that holds no reservation; replaced by a private object before any write.
const NOTHING: Amounts = Object.freeze({});

// Collections are created on first use and dropped once empty: most session ledgers never hold
// two reservations at once or cross a threshold, and a million idle keys should cost as little
// memory as possible (an empty Map or Set alone costs more heap than the rest of a ledger).
/** One ledger of the {@link MemoryLedgerStore}: its usage, holds and fired markers. */
export class MemoryLedger {
  used: Amounts = {};
  /** What the held reservations add up to; the shared {@link NOTHING} while none is held. */
  reserved: Amounts = NOTHING;
  /**
   * The held reservations: none, the only one, or a Map by id once two are held together. Most
   * ledgers hold one at a time, and a Map made and dropped for every call cost more than the rest
   * of the reservation.
   */
  private holds: HeldReservation | Map<string, HeldReservation> | undefined = undefined;
  /** No held reservation expires before this (a lower bound), so most accesses skip the scan. */
  private nextExpiry = Infinity;
  private fired: Set<string> | undefined = undefined;
  /** The current window, once the ledger has one. */
  windowStart: number | undefined = undefined;
  windowEnd = Infinity;
  evictAt = 0;
  /** Created by the operation running now (it had no state before). */
  fresh = true;
  /** Extra allowance for the current window; undefined while none was granted. */
  credit: Amounts | undefined = undefined;
  /** Commits recorded in the current window (since the last reset). */
  commits = 0;
  /** When the ledger was last reset, if ever. */
  resetAt: number | undefined = undefined;

  constructor(
    readonly id: string,
    /** When this ledger started (it is new after an eviction). */
    readonly bornAt: number,
  ) {}

  /** Threshold markers already fired in this window (see {@link collectCrossings}). */
  has(marker: string): boolean {
    return this.fired !== undefined && this.fired.has(marker);
  }

  add(marker: string): void {
    (this.fired ??= new Set()).add(marker);
  }

  delete(marker: string): void {
    this.fired?.delete(marker);
  }

  markers(): Iterable<string> {
    return this.fired ?? [];
  }

  resetWindow(start: number, end: number): void {
    this.windowStart = start;
    this.windowEnd = end;
    this.used = {};
    this.fired = undefined;
    this.credit = undefined;
    this.commits = 0;
  }

  /** Starts the window afresh at `now` (an operator's reset): usage, markers and rate go, credit stays. */
  reset(now: number): void {
    this.used = {};
    this.fired = undefined;
    this.commits = 0;
    this.resetAt = now;
  }

  activity(): LedgerActivity {
    return {
      commits: this.commits,
      since: Math.max(this.windowStart ?? -Infinity, this.bornAt, this.resetAt ?? -Infinity),
    };
  }

  /** How many reservations are held. */
  get heldCount(): number {
    const holds = this.holds;
    return holds === undefined ? 0 : holds instanceof Map ? holds.size : 1;
  }

  hold(held: HeldReservation): void {
    const holds = this.holds;
    if (holds === undefined) {
      this.holds = held;
      this.reserved = {};
    } else if (!(holds instanceof Map) && holds.id === held.id) {
      // A reservation id reserved again replaces its earlier hold instead of adding to it.
      add(this.reserved, holds.amounts, -1);
      this.holds = held;
    } else {
      const map = holds instanceof Map ? holds : new Map([[holds.id, holds]]);
      this.holds = map;
      const previous = map.get(held.id);
      if (previous !== undefined) add(this.reserved, previous.amounts, -1);
      map.set(held.id, held);
    }
    add(this.reserved, held.amounts, 1);
    if (held.expiresAt < this.nextExpiry) this.nextExpiry = held.expiresAt;
  }

  /** Drops a held reservation; false when it is not held. */
  drop(reservationId: string): boolean {
    return this.take(reservationId) !== undefined;
  }

  /** Drops a held reservation and returns it; `undefined` when it is not held. */
  take(reservationId: string): HeldReservation | undefined {
    const held = this.find(reservationId);
    if (held === undefined) return undefined;
    this.unhold(held);
    return held;
  }

  /**
   * Moves a held reservation's expiry; false when it is not held. Only ever later, so
   * {@link nextExpiry} stays a lower bound.
   */
  extend(reservationId: string, expiresAt: number): boolean {
    const held = this.find(reservationId);
    if (held === undefined) return false;
    if (expiresAt > held.expiresAt) held.expiresAt = expiresAt;
    return true;
  }

  /** Whether a held reservation may have expired at `now` (cheap; no closure needed otherwise). */
  mayExpire(now: number): boolean {
    return this.holds !== undefined && now >= this.nextExpiry;
  }

  /** Lapses the reservations expired at `now`, reporting each so the store can remember it. */
  expire(now: number, lapsed: (reservationId: string, expiresAt: number) => void): void {
    const holds = this.holds;
    if (holds === undefined || now < this.nextExpiry) return;
    let next = Infinity;
    for (const held of holds instanceof Map ? holds.values() : [holds]) {
      if (held.expiresAt <= now) {
        this.unhold(held);
        lapsed(held.id, held.expiresAt);
      } else if (held.expiresAt < next) {
        next = held.expiresAt;
      }
    }
    this.nextExpiry = next;
  }

  /** The held reservation `reservationId`, if held. */
  private find(reservationId: string): HeldReservation | undefined {
    const holds = this.holds;
    return holds instanceof Map
      ? holds.get(reservationId)
      : holds?.id === reservationId
        ? holds
        : undefined;
  }

  private unhold(held: HeldReservation): void {
    const holds = this.holds;
    if (holds instanceof Map) {
      holds.delete(held.id);
      if (holds.size > 0) {
        add(this.reserved, held.amounts, -1);
        return;
      }
    }
    this.holds = undefined;
    this.reserved = NOTHING;
    this.nextExpiry = Infinity;
  }
}

/** Marks the ledgers of a finished operation as no longer fresh. */
export function settled(ledgers: readonly MemoryLedger[]): void {
  for (let i = 0; i < ledgers.length; i++) ledgers[i].fresh = false;
}

/** Whether `ledgers[i]` appears there for the first time (a ledger shared by two budgets of a call). */
export function firstOf(ledgers: readonly MemoryLedger[], i: number): boolean {
  for (let j = 0; j < i; j++) if (ledgers[j] === ledgers[i]) return false;
  return true;
}

export function evictionTime(budget: Budget, ledger: MemoryLedger, now: number): number {
  if (budget.ttlMs !== undefined) return now + budget.ttlMs;
  // Past its window a ledger holds nothing but in-flight reservations, so it can go once they settle.
  return ledger.windowEnd;
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

/** Whether `actual` holds any amount above 0 (own properties, as Object.values reads them). */
export function usesSomething(actual: Amounts): boolean {
  for (const dim in actual) {
    if (!Object.prototype.hasOwnProperty.call(actual, dim)) continue;
    const value = actual[dim as Dimension];
    if (value !== undefined && value > 0) return true;
  }
  return false;
}

/** Adds usage, saturating each total at MAX_AMOUNT as the Redis scripts do. */
export function addAll(used: Amounts, actual: Amounts): void {
  for (const dim in actual) {
    const value = actual[dim as Dimension];
    if (!value) continue;
    used[dim as Dimension] = addUsage(used[dim as Dimension] ?? 0, value);
  }
}
