import type { Budget } from './budget.js';
import { windowBounds } from './budget-window.js';
import { type Duration, parseDuration } from './duration.js';
import { ledgerIdOf } from './ledger-id.js';
import {
  SETTLEMENT_MEMORY_MS,
  collectCrossings,
  decideReservation,
  rearmAfterCredit,
  rearmLedgerAfterCredit,
} from './ledger-rules.js';
import type {
  ClaimInput,
  CommitInput,
  CommitOutcome,
  CreditInput,
  Crossing,
  ExtendInput,
  LedgerOpInput,
  LedgerSnapshot,
  LedgerState,
  ResetOutcome,
  LedgerStore,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
  UnknownReservationMode,
} from './ledger-store.interface.js';
import {
  MemoryLedger,
  addAll,
  evictionTime,
  firstOf,
  settled,
  usesSomething,
} from './memory-ledger.entry.js';
import { EMPTY, nonZero, snapshotOf, stateOf } from './memory-ledger.snapshot.js';
import { RememberedIds } from './remembered-ids.js';
import { assertKnownOptions } from './known-options.guard.js';

/** Options of {@link MemoryLedgerStore}. */
export interface MemoryLedgerStoreOptions {
  /** How often idle ledgers are swept; `false` sweeps only on access. @default '1m' */
  sweepInterval?: Duration | false;
  /**
   * Clock for the sweep (tests inject one). By default the sweep follows the clock of the Ledger
   * using the store: the time of the last access, moved on by the real time since.
   */
  clock?: () => number;
}

const NO_BUDGETS: readonly Budget[] = Object.freeze([]);

/**
 * The default store: ledgers in this process's memory, no network. Atomic because each operation
 * runs to completion on the event loop, and synchronous: its methods return values, not promises.
 * Idle ledgers (past their `ttl`, or past their window with nothing in flight) are evicted on
 * access and by one unref'd sweep, so memory stays bounded.
 */
export class MemoryLedgerStore implements LedgerStore {
  private readonly ledgers = new Map<string, MemoryLedger>();
  // Reservation ids a ledger must remember (see SETTLEMENT_MEMORY_MS), by ledger id, each with the
  // time it may be forgotten: reservations that lapsed uncommitted, and commits (of a held
  // reservation, or charge-once) that must record nothing if sent again. Kept apart from the
  // ledgers so an evicted ledger's memory of them survives, as in Redis. Every commit remembers
  // its id, so those are kept where remembering costs an append (RememberedIds).
  private readonly lapsedIds = new Map<string, Map<string, number>>();
  private readonly committedIds = new RememberedIds();
  private readonly clock: (() => number) | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  // The `now` of the last access (the Ledger's clock) and the real time it came at.
  private lastNow: number | undefined;
  private lastAt = 0;

  constructor(options: MemoryLedgerStoreOptions = {}) {
    assertKnownOptions(options, ['sweepInterval', 'clock'], 'MemoryLedgerStore');
    this.clock = options.clock;
    const interval = options.sweepInterval ?? '1m';
    if (interval !== false) {
      const ms = parseDuration(interval, 'sweepInterval of MemoryLedgerStore');
      this.sweeper = setInterval(() => this.sweep(this.sweepNow()), ms);
      this.sweeper.unref();
    }
  }

  /** Number of ledgers held (for tests and memory measurements). */
  get size(): number {
    return this.ledgers.size;
  }

  reserve(input: ReserveInput): ReserveOutcome {
    const ledgers = this.open(input.budgets, input.now, true);
    const decision = decideReservation(input, ledgers);
    if (!decision.ok) {
      settled(ledgers);
      return { ...decision, snapshot: snapshotOf(ledgers[decision.index]) };
    }
    const held = {
      id: input.reservationId,
      amounts: decision.amounts,
      expiresAt: input.expiresAt,
    };
    for (let i = 0; i < ledgers.length; i++) {
      if (firstOf(ledgers, i)) ledgers[i].hold(held);
    }
    settled(ledgers);
    return {
      ok: true,
      units: decision.units,
      amounts: decision.amounts,
      snapshots: ledgers.map(snapshotOf),
    };
  }

  commit(input: CommitInput): CommitOutcome {
    const { budgets, reservationId, actual, now } = input;
    const ledgers = this.open(budgets, now, true);
    const crossings: Crossing[] = [];
    let released = false;
    for (let i = 0; i < ledgers.length; i++) {
      const ledger = ledgers[i];
      if (firstOf(ledgers, i)) {
        let record = true;
        const held = ledger.take(reservationId);
        if (held !== undefined) {
          released = true;
          // A tombstone for as long as the reservation would have lived: the same commit sent
          // again (a client resending after a lost reply) records nothing.
          this.committedIds.remember(ledger.id, reservationId, held.expiresAt);
        } else record = this.settleUnknown(ledger, input);
        if (record) {
          addAll(ledger.used, actual);
          // A commit that used nothing says nothing about the pace: it does not count toward the
          // forecast's minimum of commits.
          if (usesSomething(actual)) ledger.commits += 1;
        }
      }
      collectCrossings(i, budgets[i], ledger.used, ledger, crossings, ledger.credit);
    }
    const snapshots = ledgers.map(snapshotOf);
    const activity = ledgers.map((l) => l.activity());
    const siblings = input.siblings ?? NO_BUDGETS;
    for (let j = 0; j < siblings.length; j++) {
      // The ledger this commit opened for it: a sibling is neither charged nor touched.
      const id = ledgerIdOf(siblings[j]);
      const ledger = ledgers.find((l) => l.id === id);
      if (ledger === undefined) {
        snapshots.push(EMPTY);
        activity.push({ commits: 0, since: now });
        continue;
      }
      collectCrossings(
        budgets.length + j,
        siblings[j],
        ledger.used,
        ledger,
        crossings,
        ledger.credit,
      );
      snapshots.push(snapshotOf(ledger));
      activity.push(ledger.activity());
    }
    settled(ledgers);
    return { snapshots, crossings, released, activity };
  }

  release(input: ReleaseInput): boolean {
    let released = false;
    const { budgets, reservationId, now } = input;
    for (let i = 0; i < budgets.length; i++) {
      const ledger = this.ledger(budgets[i], now, false);
      if (ledger && ledger.drop(reservationId)) released = true;
      // A lapsed reservation released is settled too: nothing is left to charge for it.
      this.lapsedIds.get(ledgerIdOf(budgets[i]))?.delete(reservationId);
    }
    return released;
  }

  extend(input: ExtendInput): boolean {
    let extended = false;
    const { budgets, reservationId, expiresAt, now } = input;
    for (let i = 0; i < budgets.length; i++) {
      // A lapsed reservation is not revived: the ledger lapses what expired before `now` first.
      const ledger = this.ledger(budgets[i], now, false);
      if (ledger && ledger.extend(reservationId, expiresAt)) extended = true;
    }
    return extended;
  }

  snapshot(budgets: readonly Budget[], now: number): LedgerSnapshot[] {
    return budgets.map((b) => {
      const ledger = this.ledger(b, now, false);
      return ledger ? snapshotOf(ledger) : EMPTY;
    });
  }

  inspect(budgets: readonly Budget[], now: number): LedgerState[] {
    return budgets.map((b) => {
      const ledger = this.ledger(b, now, false);
      return ledger ? stateOf(ledger) : { ...EMPTY, commits: 0, since: now };
    });
  }

  reset(input: LedgerOpInput): ResetOutcome {
    const ledger = this.ledger(input.budget, input.now, false);
    if (!ledger) return { cleared: {}, state: { ...EMPTY, commits: 0, since: input.now } };
    const cleared = nonZero(ledger.used);
    ledger.reset(input.now);
    return { cleared, state: stateOf(ledger) };
  }

  credit(input: CreditInput): LedgerState {
    const [ledger] = this.open([input.budget], input.now, true);
    const credit = (ledger.credit ??= {});
    addAll(credit, input.amounts);
    rearmAfterCredit(input.budget, ledger.used, credit, ledger);
    rearmLedgerAfterCredit(ledger.used, credit, ledger.markers(), (m) => ledger.delete(m));
    settled([ledger]);
    return stateOf(ledger);
  }

  claim(input: ClaimInput): boolean {
    const [ledger] = this.open([input.budget], input.now, true);
    settled([ledger]);
    if (ledger.has(input.marker)) return false;
    ledger.add(input.marker);
    return true;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Evicts every ledger that is idle at `now`. Runs on the sweep timer; public for tests. */
  sweep(now: number): void {
    for (const [id, ledger] of this.ledgers) {
      ledger.expire(now, (reservationId, expiresAt) => this.lapsed(id, reservationId, expiresAt));
      if (ledger.evictAt <= now && ledger.heldCount === 0) this.ledgers.delete(id);
    }
    for (const [ledgerId, ids] of this.lapsedIds) {
      for (const [id, until] of ids) if (until <= now) ids.delete(id);
      if (ids.size === 0) this.lapsedIds.delete(ledgerId);
    }
    this.committedIds.forgetExpired(now);
  }

  /** The ledger of each budget (budgets sharing a ledger get the same object), touched if asked. */
  private open(budgets: readonly Budget[], now: number, touch: boolean): MemoryLedger[] {
    const ledgers: MemoryLedger[] = [];
    for (let i = 0; i < budgets.length; i++) {
      const ledger = this.ledger(budgets[i], now, touch) as MemoryLedger;
      ledgers.push(ledger);
      if (!touch) continue;
      // Declarations sharing a ledger may differ in ttl: the ledger lives as long as the longest
      // that ever touched it, so a short-lived sibling used later cannot evict a lifetime cap.
      ledger.evictAt = Math.max(ledger.evictAt, evictionTime(budgets[i], ledger, now));
    }
    return ledgers;
  }

  /**
   * The time the sweep judges idleness by: the store's own clock if it was given one, else the
   * clock of the Ledger using it (the `now` of the last access, moved on by the real time since),
   * so a Ledger with an injected clock never sees current-window usage swept as idle.
   */
  private sweepNow(): number {
    if (this.clock) return this.clock();
    return this.lastNow === undefined ? Date.now() : this.lastNow + (Date.now() - this.lastAt);
  }

  private ledger(budget: Budget, now: number, create: boolean): MemoryLedger | undefined {
    this.lastNow = now;
    this.lastAt = Date.now();
    const id = ledgerIdOf(budget);
    let ledger = this.ledgers.get(id);
    if (ledger) {
      if (ledger.mayExpire(now)) {
        ledger.expire(now, (reservationId, expiresAt) => this.lapsed(id, reservationId, expiresAt));
      }
      if (ledger.evictAt <= now && ledger.heldCount === 0) {
        this.ledgers.delete(id);
        ledger = undefined;
      }
    }
    if (!ledger) {
      if (!create) return undefined;
      ledger = new MemoryLedger(id, now);
      this.ledgers.set(id, ledger);
    }
    // Within the current window nothing can change: bounds are only worked out past its end.
    if (
      budget.window !== undefined &&
      (ledger.windowStart === undefined || now >= ledger.windowEnd)
    ) {
      const { start, end } = windowBounds(budget.window, now);
      // Windows only move forward: a caller whose clock lags charges the newest window instead of
      // starting an old one afresh (which would reset usage).
      if (ledger.windowStart === undefined || start > ledger.windowStart) {
        ledger.resetWindow(start, end);
      }
    }
    return ledger;
  }

  private lapsed(ledgerId: string, reservationId: string, expiresAt: number): void {
    let ids = this.lapsedIds.get(ledgerId);
    if (ids === undefined) this.lapsedIds.set(ledgerId, (ids = new Map()));
    ids.set(reservationId, expiresAt + SETTLEMENT_MEMORY_MS);
  }

  /** Whether a commit of a reservation this ledger does not hold is recorded (see CommitInput). */
  private settleUnknown(ledger: MemoryLedger, input: CommitInput): boolean {
    const { reservationId, now, reservedAt } = input;
    const mode: UnknownReservationMode = input.ifUnknown ?? 'charge';
    const ledgerId = ledger.id;
    const lapsedIds = this.lapsedIds.get(ledgerId);
    const lapsed = lapsedIds?.get(reservationId);
    if (lapsed !== undefined && lapsed > now) {
      lapsedIds?.delete(reservationId);
      return true;
    }
    const charged = this.committedIds.until(ledgerId, reservationId);
    if (charged !== undefined && charged > now) return false;
    // Skip only where a first attempt could have recorded the commit: a ledger with no state, or
    // one started after the reservation was made (evicted or lost since), never held it.
    if (mode === 'skip') {
      return ledger.fresh || (reservedAt !== undefined && ledger.bornAt > reservedAt);
    }
    if (mode === 'charge-once') {
      this.committedIds.remember(ledgerId, reservationId, now + SETTLEMENT_MEMORY_MS);
    }
    return true;
  }
}
