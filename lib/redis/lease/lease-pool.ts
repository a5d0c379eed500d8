import { type Amounts, type Budget, DIMENSIONS, type Dimension } from '../../core/budget.js';
import { windowBounds } from '../../core/budget-window.js';
import { amountsFor, decideReservation } from '../../core/ledger-rules.js';
import type {
  CommitOutcome,
  LedgerSnapshot,
  ReserveInput,
  ReserveOutcome,
  UnknownReservationMode,
} from '../../core/ledger-store.interface.js';
import { mayHaveApplied } from '../../core/store-error.reader.js';
import type { LeaseBackend } from './lease-backend.interface.js';
import { fits, runningLow, virtualSnapshot } from './lease.capacity.js';
import { LeaseHolds } from './lease.holds.js';
import { Lease, leaseId, NDIM, toAmounts, vector } from './lease.js';
import type { ResolvedLeaseOptions } from './lease.options.js';
import { ChunkSizer } from './chunk.sizer.js';
import { LooseUsage } from './loose-usage.charger.js';
import { OrphanLeases } from './orphan-leases.js';

// A lease is acquired as `need + units × step` with units up to STEPS, so Redis grants the most
// of the wanted chunk that fits, and never less than the call waiting for it needs.
const STEPS = 64;
// A lease is retired, and extended while calls still hold in it, once half its TTL is gone, so
// an event loop stalled for less than half the TTL cannot let Redis lapse it under those calls.
const MARGIN_FRACTION = 0.5;
// A lease in use is confirmed with Redis at least this often (or every `horizon`, if shorter), so
// a lease Redis forgot (a restart without persistence, FLUSHALL, eviction) stops being spent within
// that time; after a reconnect it is confirmed before it is spent again.
const MAX_CONFIRM_MS = 1_000;

/**
 * The leases of one leased budget (one ledger) in this replica. Calls hold in the current lease
 * synchronously; a lease that cannot hold a call is retired and a new one acquired (one round
 * trip, shared by every caller waiting); the next lease is prefetched when the current one is
 * three quarters used. A retired lease is settled (committed with what its calls spent, the rest
 * returned) once its last call settles; an idle or ageing one is retired by the sweep.
 */
export class LeasePool {
  private current: Lease | undefined;
  private acquiring: Promise<ReserveOutcome | undefined> | undefined;
  private readonly leases = new Set<Lease>();
  private readonly holds = new LeaseHolds();
  /** Usage with no lease to put it in (a commit after its lease settled), waiting to be charged. */
  private readonly loose: LooseUsage;
  private lastSnapshot: LedgerSnapshot | undefined;
  private readonly sizer: ChunkSizer;
  /** Leases whose acquisition reply was lost (they may be held in Redis). */
  private readonly orphans: OrphanLeases;

  private readonly confirmMs: number;

  constructor(
    public budget: Budget,
    private readonly options: ResolvedLeaseOptions,
    private readonly backend: LeaseBackend,
  ) {
    this.confirmMs = Math.min(options.horizonMs, MAX_CONFIRM_MS);
    this.sizer = new ChunkSizer(() => this.budget, options.horizonMs);
    this.loose = new LooseUsage(
      () => this.budget,
      backend,
      (outcome, now) => this.recorded(outcome, now),
    );
    this.orphans = new OrphanLeases((id, acquiredAt) =>
      backend.release({ reservationId: id, budgets: [budget], now: acquiredAt }),
    );
  }

  /**
   * Redis may have lost what it held (the connection closed: a restart, a failover): every lease
   * is confirmed before it is spent again.
   */
  suspect(): void {
    for (const lease of this.leases) lease.confirmedAt = -Infinity;
  }

  /** Whether the pool holds nothing in Redis and nothing is waiting to be written. */
  get empty(): boolean {
    return this.leases.size === 0 && this.loose.empty && this.orphans.size === 0 && !this.acquiring;
  }

  /** What this pool spent and never wrote to Redis: its leases' spending and usage outside them. */
  unwritten(): { reservationId: string; actual: Amounts }[] {
    const out: { reservationId: string; actual: Amounts }[] = [];
    for (const lease of this.leases) {
      if (lease.spent.some((n) => n !== 0)) {
        out.push({ reservationId: lease.id, actual: toAmounts(lease.spent) });
      }
    }
    const loose = this.loose.unwritten();
    if (loose !== undefined) out.push(loose);
    return out;
  }

  /**
   * Holds a call's amounts in a lease (acquiring one if needed). Returns the units granted (at
   * most what the lease holds) or the refusal of the budget, as the reserve script would.
   */
  async hold(
    input: ReserveInput,
    index: number,
  ): Promise<{ ok: true; units: number } | Extract<ReserveOutcome, { ok: false }>> {
    const units = input.units ?? { min: 0, max: 0, ifUnbounded: 0 };
    // A leased budget clamps a call to its lease: at most max_tokens, else the unbounded default.
    const wanted = {
      min: units.min,
      max: Number.isFinite(units.max) ? units.max : Math.max(units.min, units.ifUnbounded),
      ifUnbounded: units.ifUnbounded,
    };
    const perUnit = input.perUnit ?? { tokens: 1 };
    const want = vector(amountsFor(input.base, perUnit, wanted.max));
    const need = vector(amountsFor(input.base, perUnit, wanted.min));
    for (let attempt = 0; ; attempt++) {
      let lease = this.usable(input.now);
      if (lease && input.now - lease.confirmedAt >= this.confirmMs) {
        // Unconfirmed for too long: spend it only once Redis says it still holds it.
        await this.confirm(lease, input.now);
        lease = this.usable(input.now);
      } else if (lease && input.now - lease.confirmedAt >= this.confirmMs / 2) {
        void this.confirm(lease, input.now);
      }
      const budget = this.budget;
      if (lease && (fits(budget, lease, want) || (attempt > 0 && fits(budget, lease, need)))) {
        const decision = decideReservation({ ...input, units: wanted, budgets: [budget] }, [
          virtualSnapshot(budget, lease),
        ]);
        if (decision.ok) {
          this.place(lease, input, decision.amounts);
          this.prefetch(lease, input.now, need);
          return { ok: true, units: decision.units };
        }
      }
      if (attempt > 0 && this.budget.policy === 'notify') {
        // A notify budget never refuses: hold in whatever lease there is, or none.
        if (lease) this.place(lease, input, vector(amountsFor(input.base, perUnit, wanted.max)));
        return { ok: true, units: wanted.max };
      }
      if (attempt > 2) break;
      // A lease that cannot hold the call and holds no other is returned before the next is
      // taken, so Redis offers what it did not use (else the last units stay stranded in it).
      if (lease && lease.inflight === 0) this.retire(lease, input.now);
      const refused = await this.acquire(input.now, want, need);
      if (refused) {
        return { ...refused, index };
      }
    }
    return {
      ok: false,
      index,
      dimension: this.firstDimension(),
      snapshot: this.lastSnapshot ?? { used: {}, reserved: {} },
      requested: need[DIMENSIONS.indexOf(this.firstDimension())],
    };
  }

  /** Shrinks a call's hold to what the other budgets granted (`units`). */
  shrink(input: ReserveInput, units: number): void {
    const hold = this.holds.get(input.reservationId);
    if (!hold) return;
    const amounts = vector(amountsFor(input.base, input.perUnit ?? { tokens: 1 }, units));
    for (let d = 0; d < NDIM; d++) {
      hold.lease.held[d] += amounts[d] - hold.amounts[d];
      hold.amounts[d] = amounts[d];
    }
  }

  /** Records a call's usage in its lease (or to be charged, if its lease is gone). */
  commit(
    reservationId: string,
    actual: Amounts,
    mode: UnknownReservationMode,
    now: number,
  ): boolean {
    const hold = this.holds.take(reservationId);
    const used = vector(actual);
    if (!hold) {
      if (mode === 'skip') return false;
      const lease = this.usable(now);
      if (lease) for (let d = 0; d < NDIM; d++) lease.spent[d] += used[d];
      else {
        this.loose.add(used);
        void this.sweep(now);
      }
      return false;
    }
    const { lease } = hold;
    for (let d = 0; d < NDIM; d++) lease.spent[d] += used[d];
    if (lease.retired && lease.inflight === 0) void this.settle(lease, now);
    return true;
  }

  /**
   * The settlements of retired leases under way: a commit or release that let a lease settle
   * waits for them, so the next call (on any replica) sees the unused part free in Redis.
   */
  settling(): Promise<void> {
    const under = [...this.leases].flatMap((l) => (l.settlement ? [l.settlement] : []));
    if (under.length === 0) return Promise.resolve();
    // A failed settlement is retried by the sweep; the call it followed succeeded all the same.
    return Promise.allSettled(under).then(() => undefined);
  }

  /** Moves a call's hold's expiry later (its call is still running); false when not held. */
  extendHold(reservationId: string, expiresAt: number): boolean {
    return this.holds.extend(reservationId, expiresAt);
  }

  /** Drops a call's hold, recording nothing. */
  release(reservationId: string, now: number): boolean {
    const hold = this.holds.take(reservationId);
    if (!hold) return false;
    if (hold.lease.retired && hold.lease.inflight === 0) void this.settle(hold.lease, now);
    return true;
  }

  /**
   * This replica's view of the budget at `now`: Redis's answer (else its last) plus what its
   * leases of the current window spent since (an ended window's spending is not this window's).
   */
  snapshot(now: number, redis?: LedgerSnapshot): LedgerSnapshot {
    const base = redis ?? this.lastSnapshot ?? { used: {}, reserved: {} };
    const spent = new Array<number>(NDIM).fill(0);
    for (const lease of this.leases) {
      if (lease.windowEnd !== undefined && now >= lease.windowEnd) continue;
      for (let d = 0; d < NDIM; d++) spent[d] += lease.spent[d];
    }
    const used = vector(base.used);
    const reserved = vector(base.reserved);
    const loose = this.loose.amounts;
    for (let d = 0; d < NDIM; d++) {
      used[d] += spent[d] + loose[d];
      // Redis counts a lease whole as reserved; what its calls spent is usage instead.
      reserved[d] = Math.max(0, reserved[d] - spent[d]);
    }
    const out: LedgerSnapshot = { used: toAmounts(used), reserved: toAmounts(reserved) };
    // The window's credit lives in Redis only: a lease never changes it.
    if (base.credit !== undefined) out.credit = base.credit;
    return out;
  }

  /**
   * Retires the leases of an ended window and waits for those with no call left to settle, so a
   * read of the new window finds them recorded in theirs rather than still reserved.
   */
  async settleEnded(now: number): Promise<void> {
    // A lease still being acquired (a prefetch) may belong to the ended window too.
    if (this.acquiring) await this.acquiring;
    const ended = [...this.leases].filter((l) => l.windowEnd !== undefined && now >= l.windowEnd);
    if (ended.length === 0) return;
    for (const lease of ended) if (!lease.retired) this.retire(lease, now);
    await Promise.all(ended.filter((l) => l.inflight === 0).map((l) => this.settle(l, now)));
  }

  /**
   * Retires idle and ageing leases, settles retired ones whose calls are done, extends retired
   * ones whose calls outlive them, lapses local holds past their expiry, charges loose usage.
   */
  async sweep(now: number, all = false): Promise<void> {
    const margin = this.options.ttlMs * MARGIN_FRACTION;
    const work: Promise<unknown>[] = [];
    for (const lease of this.leases) {
      for (const [id, hold] of this.holds.entries()) {
        if (hold.lease === lease && hold.expiresAt <= now) this.release(id, now);
      }
      if (
        !lease.retired &&
        (all ||
          now - lease.lastUsed >= this.options.idleMs ||
          now >= lease.expiresAt - margin ||
          (lease.windowEnd !== undefined && now >= lease.windowEnd))
      ) {
        this.retire(lease, now);
      }
      if (lease.retired && (lease.inflight === 0 || all)) work.push(this.settle(lease, now));
      else if (lease.retired && now >= lease.expiresAt - margin) {
        const expiresAt = now + this.options.ttlMs;
        work.push(
          this.backend.extend(this.budget, lease.id, expiresAt, now).then(
            (extended) => {
              if (extended) lease.expiresAt = expiresAt;
            },
            () => undefined,
          ),
        );
      }
    }
    if (!this.loose.empty) work.push(this.loose.charge(now));
    if (this.orphans.size > 0) work.push(this.orphans.releaseAll());
    await Promise.all(work);
  }

  /**
   * Asks Redis whether it still holds `lease` (one round trip, shared by the callers waiting). A
   * lease Redis forgot is lost; one it cannot confirm (Redis unreachable) is retired, so it is not
   * spent while unsure: the next call needs a new lease, which fails like any call in an outage.
   */
  private confirm(lease: Lease, now: number): Promise<void> {
    lease.confirming ??= this.backend
      .extend(this.budget, lease.id, lease.expiresAt, now)
      .then(
        (held) => {
          if (!this.leases.has(lease) || lease.settlement) return;
          if (held) lease.confirmedAt = Math.max(lease.confirmedAt, now);
          else this.lose(lease, now);
        },
        () => {
          if (!lease.retired) this.retire(lease, now);
        },
      )
      .finally(() => (lease.confirming = undefined));
    return lease.confirming;
  }

  /**
   * Redis no longer holds `lease`: it is dropped at once, and what its calls spent (and what the
   * calls still in flight in it will spend) is charged to Redis like usage without a reservation.
   */
  private lose(lease: Lease, now: number): void {
    lease.retired = true;
    if (this.current === lease) this.current = undefined;
    this.leases.delete(lease);
    this.loose.add(lease.spent);
    // Their commits find no hold and are charged (see commit).
    this.holds.forget(lease);
    void this.loose.charge(now);
  }

  private usable(now: number): Lease | undefined {
    const lease = this.current;
    if (!lease || lease.retired) return undefined;
    // A lease lives in one window: its usage is recorded when it settles, so it retires when the
    // window ends (only calls in flight then are counted in the next window).
    if (
      now >= lease.expiresAt - this.options.ttlMs * MARGIN_FRACTION ||
      (lease.windowEnd !== undefined && now >= lease.windowEnd)
    ) {
      this.retire(lease, now);
      return undefined;
    }
    return lease;
  }

  private place(lease: Lease, input: ReserveInput, amounts: Amounts | number[]): void {
    const v = Array.isArray(amounts) ? amounts : vector(amounts);
    const previous = this.holds.get(input.reservationId);
    if (previous) this.release(input.reservationId, input.now);
    this.sizer.record(v);
    this.holds.add(input.reservationId, lease, v, input.expiresAt);
    lease.lastUsed = input.now;
  }

  /** Starts acquiring the next lease when the current one is three quarters used. */
  private prefetch(lease: Lease, now: number, need: number[]): void {
    if (this.acquiring) return;
    if (runningLow(this.budget, lease)) void this.acquire(now, need, need);
  }

  /**
   * Acquires a lease (one caller at a time: the others wait for it) of about the chunk this
   * replica burns in `horizon`, at least `want`, shrunk near the limit. Returns the refusal when
   * Redis cannot hold even `need`.
   */
  private async acquire(
    now: number,
    want: number[],
    need: number[],
  ): Promise<Extract<ReserveOutcome, { ok: false }> | undefined> {
    if (this.acquiring) {
      await this.acquiring;
      return undefined;
    }
    // Retired leases with no call left are settled first, so Redis counts what they did not use
    // as free (else the last units of the budget are stranded in them); and once a new lease opens
    // the next window in Redis, an ended window's usage could only be recorded there.
    const idle = [...this.leases].filter((l) => l.retired && l.inflight === 0);
    const settled = idle.length > 0 ? Promise.all(idle.map((l) => this.settle(l, now))) : undefined;
    const chunk = this.sizer.next(now, want, this.lastSnapshot);
    const id = leaseId('lease');
    const base: Amounts = {};
    const step: Amounts = {};
    for (const dim of Object.keys(this.budget.limits) as Dimension[]) {
      const d = DIMENSIONS.indexOf(dim);
      base[dim] = need[d];
      step[dim] = Math.max(0, chunk[d] - need[d]) / STEPS;
    }
    const expiresAt = now + this.options.ttlMs;
    const request = (async () => {
      if (settled) await settled;
      return this.backend.reserve({
        reservationId: id,
        budgets: [this.budget],
        base,
        perUnit: step,
        units: { min: 0, max: STEPS, ifUnbounded: STEPS },
        now,
        expiresAt,
      });
    })();
    this.acquiring = request.then(
      (o) => o,
      () => undefined,
    );
    try {
      let outcome: ReserveOutcome;
      try {
        outcome = await request;
      } catch (error) {
        // The reply was lost but the reserve may still run (late, or resent on reconnect): its
        // lease would be held, unknown to this replica, until its TTL. Release it, as the Ledger
        // does for a call's reserve, retrying until Redis answers.
        if (mayHaveApplied(error)) this.orphans.add(id, now);
        throw error;
      }
      if (!outcome.ok) {
        this.lastSnapshot = outcome.snapshot;
        return outcome;
      }
      this.lastSnapshot = outcome.snapshots[0];
      const lease = new Lease(id, vector(outcome.amounts), expiresAt, now);
      if (this.budget.window) lease.windowEnd = windowBounds(this.budget.window, now).end;
      this.leases.add(lease);
      if (this.current) this.retire(this.current, now);
      this.current = lease;
      return undefined;
    } finally {
      this.acquiring = undefined;
    }
  }

  private firstDimension(): Dimension {
    return Object.keys(this.budget.limits)[0] as Dimension;
  }

  /** Takes no more calls into `lease`; with none left in it, it is settled at once. */
  private retire(lease: Lease, now: number): void {
    lease.retired = true;
    if (this.current === lease) this.current = undefined;
    if (lease.inflight === 0) void this.settle(lease, now);
  }

  /**
   * Commits a lease with what its calls spent: Redis drops its hold and records the usage. Calls
   * still holding in it (only at close) are charged when they commit, outside any lease.
   */
  private settle(lease: Lease, settledAt: number): Promise<void> {
    if (!this.leases.has(lease)) return Promise.resolve();
    lease.settlement ??= this.commitLease(lease, settledAt).finally(
      () => (lease.settlement = undefined),
    );
    return lease.settlement;
  }

  private async commitLease(lease: Lease, settledAt: number): Promise<void> {
    // Recorded in the window the lease was spent in (unless Redis has moved on to the next).
    const now =
      lease.windowEnd === undefined ? settledAt : Math.min(settledAt, lease.windowEnd - 1);
    this.holds.forget(lease);
    try {
      const outcome = await this.backend.commit({
        reservationId: lease.id,
        budgets: [this.budget],
        actual: toAmounts(lease.spent),
        now,
        // After an attempt whose reply was lost, a lease Redis no longer holds was settled by it.
        ifUnknown: lease.ambiguous ? 'skip' : 'charge',
        reservedAt: lease.acquiredAt,
      });
      this.leases.delete(lease);
      this.recorded(outcome, now);
    } catch (error) {
      // Kept: the next sweep tries again.
      if (mayHaveApplied(error)) lease.ambiguous = true;
    }
  }

  /** Redis recorded a settlement: its answer is the latest view, and its crossings fire. */
  private recorded(outcome: CommitOutcome, now: number): void {
    this.lastSnapshot = outcome.snapshots[0];
    if (outcome.crossings.length > 0) this.backend.crossed([this.budget], outcome, now);
  }
}
