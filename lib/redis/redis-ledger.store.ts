import { Redis } from 'ioredis';
import type { Budget } from '../core/budget.js';
import { amountsFor } from '../core/ledger-rules.js';
import type {
  ClaimInput,
  CommitInput,
  CommitOutcome,
  CreditInput,
  ExtendInput,
  LedgerActivity,
  LedgerOpInput,
  LedgerSnapshot,
  LedgerState,
  ResetOutcome,
  LedgerStore,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
  UnwrittenUsage,
} from '../core/ledger-store.interface.js';
import { EMPTY, ownerOf, spreadSiblings } from './commit-siblings.spreader.js';
import { LedgerKeyBuilder } from './ledger-key.builder.js';
import type { LeasePool } from './lease/lease-pool.js';
import { resolveLeaseOptions } from './lease/lease.options.js';
import { LeasedBudgets } from './lease/leased-budgets.js';
import {
  checkStoreOptions,
  closeOwnedClient,
  type RedisLedgerStoreOptions,
} from './redis-store.options.js';
import { LedgerScripts, ONE_TOKEN } from './redis-ledger.scripts.js';
import { BudgetArgsEncoder } from './script-args.encoder.js';
import { type RedisClient, ScriptRunner } from './script.runner.js';

/**
 * Ledgers in Redis, shared by every replica of an app. Each operation is one Lua script run with
 * `EVALSHA` (one round trip), so reserve is all-or-nothing across budgets, commits never lose
 * usage to a race, and thresholds fire once across all replicas.
 *
 * Time comes from the caller (`now`, the Ledger's clock), so replicas need roughly synchronised
 * clocks for window boundaries. Keys expire with their window, their `ttl` (or `idleTtl`) and
 * their reservations' expiry.
 *
 * @example
 * const store = new RedisLedgerStore({ client: new Redis(process.env.REDIS_URL) });
 * const ledger = new Ledger({ store, onStoreError: 'fail-closed' });
 */
export class RedisLedgerStore implements LedgerStore {
  /** The client the store runs its scripts on. */
  readonly client: RedisClient;
  private readonly owned: boolean;
  private readonly keys: LedgerKeyBuilder;
  private readonly runner: ScriptRunner;
  private readonly scripts: LedgerScripts;
  private readonly leases: LeasedBudgets | undefined;
  /** Marks the leases unconfirmed when the connection closes (see LeasedBudgets.suspect). */
  private readonly onConnectionClosed = () => this.leases?.suspect();
  private settled:
    ((budgets: readonly Budget[], outcome: CommitOutcome, at: number) => void) | undefined;

  constructor(options: RedisLedgerStoreOptions) {
    const { client, url, timeoutMs, idleTtlMs } = checkStoreOptions(options);
    const hashTag = options.hashTag ?? (client?.isCluster ? 'single-slot' : 'per-budget');
    this.keys = new LedgerKeyBuilder(options.prefix ?? 'tokencap:', hashTag);
    // Keys are checked to share a slot before sending only where they might not (see assertOneSlot).
    const checkSlots = typeof hashTag === 'function' || client?.isCluster === true;
    const encoder = new BudgetArgsEncoder(idleTtlMs);
    // Created only once every option is valid: a client created before a throw would be left
    // reconnecting forever, keeping the process alive.
    this.owned = client === undefined;
    if (client === undefined) {
      const created = new Redis(url as string);
      // ioredis prints every connection error it has no listener for; the Ledger already reports
      // an outage once (store-error event and one warning), so the store's own client stays quiet.
      created.on('error', () => undefined);
      this.client = created;
    } else {
      this.client = client;
    }
    this.runner = new ScriptRunner(this.client, timeoutMs);
    this.scripts = new LedgerScripts(this.runner, this.keys, checkSlots, encoder);
    if (options.lease !== undefined) {
      this.leases = new LeasedBudgets(
        resolveLeaseOptions(options.lease),
        {
          reserve: (input) => this.scripts.reserve(input),
          commit: (input) => this.scripts.commit(input),
          release: (input) => this.scripts.release(input),
          extend: (budget, id, expiresAt, now) => this.scripts.extend([budget], id, expiresAt, now),
          crossed: (budgets, outcome, at) => this.settled?.(budgets, outcome, at),
        },
        (budget) => this.keys.keysOf(budget).ledger,
      );
      // A closed connection may mean a restarted Redis that forgot every lease.
      (this.client as Redis).on('close', this.onConnectionClosed);
    }
  }

  /**
   * The Redis keys of `budget`'s ledger (for tooling and tests): its hash, its reservation index
   * and its marks (reservations it must remember; exists only while one is kept).
   */
  keysOf(budget: Budget): { ledger: string; reservations: string; marks: string } {
    const { ledger, reservations, marks } = this.keys.keysOf(budget);
    return { ledger, reservations, marks };
  }

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const split = this.leases?.split(input.budgets, input.now);
    if (!split) return this.scripts.reserve(input);
    // Leased budgets first (in memory, or one round trip for a new lease), then the rest in one
    // script, clamped to what the leases granted; a refusal anywhere undoes the leases' holds.
    const held: LeasePool[] = [];
    const undo = () => {
      for (const pool of held) pool.release(input.reservationId, input.now);
    };
    let units = Infinity;
    for (const { pool, index } of split.pools) {
      let outcome;
      try {
        outcome = await pool.hold(input, index);
      } catch (error) {
        undo();
        throw error;
      }
      if (!outcome.ok) {
        undo();
        return outcome;
      }
      held.push(pool);
      units = Math.min(units, outcome.units);
    }
    const snapshots: LedgerSnapshot[] = new Array<LedgerSnapshot>(input.budgets.length);
    if (split.direct.length > 0) {
      const wanted = input.units;
      let outcome: ReserveOutcome;
      try {
        outcome = await this.scripts.reserve({
          ...input,
          budgets: split.direct,
          units: wanted && { ...wanted, max: Math.min(wanted.max, units) },
        });
      } catch (error) {
        undo();
        throw error;
      }
      if (!outcome.ok) {
        undo();
        return { ...outcome, index: split.directIndex[outcome.index] };
      }
      units = outcome.units;
      outcome.snapshots.forEach((snap, i) => (snapshots[split.directIndex[i]] = snap));
    }
    for (const { pool, index } of split.pools) {
      pool.shrink(input, units);
      snapshots[index] = pool.snapshot(input.now);
    }
    const amounts = amountsFor(input.base, input.perUnit ?? ONE_TOKEN, units);
    return { ok: true, units, amounts, snapshots };
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    const split = this.leases?.split(input.budgets, input.now);
    const siblings = input.siblings ?? [];
    // Siblings of a leased ledger are left out: a leased ledger is held and charged under one
    // declaration, and its usage reaches Redis when its lease settles, not with this call.
    const direct = split?.direct ?? input.budgets;
    const kept = siblings.filter((sibling) => ownerOf(direct, sibling) >= 0);
    if (!split) {
      const outcome = await this.scripts.commit({ ...input, siblings: kept });
      return kept.length === siblings.length
        ? outcome
        : spreadSiblings(outcome, input.budgets, siblings, kept);
    }
    // Redis first: if it fails, nothing was recorded in the leases and the Ledger's retry is safe.
    const written = await this.scripts.commit({ ...input, budgets: direct, siblings: kept });
    const n = input.budgets.length;
    // Indexes in the direct outcome (its budgets, then the siblings it kept) to this commit's.
    const indexOf = (i: number) =>
      i < direct.length ? split.directIndex[i] : n + siblings.indexOf(kept[i - direct.length]);
    let released = written.released;
    const snapshots: LedgerSnapshot[] = new Array<LedgerSnapshot>(n + siblings.length);
    written.snapshots.forEach((snap, i) => (snapshots[indexOf(i)] = snap));
    for (const { pool, index } of split.pools) {
      if (pool.commit(input.reservationId, input.actual, input.ifUnknown ?? 'charge', input.now))
        released = true;
      snapshots[index] = pool.snapshot(input.now);
    }
    siblings.forEach((sibling, j) => {
      snapshots[n + j] ??= snapshots[ownerOf(input.budgets, sibling)] ?? EMPTY;
    });
    await Promise.all(split.pools.map(({ pool }) => pool.settling()));
    // A leased budget's thresholds fire when its lease settles (see subscribeSettlements). Its
    // commits are counted in Redis per settlement, not per call, so it has no activity here and
    // forecasts nothing; the direct budgets keep theirs.
    const crossings = written.crossings.map((c) => ({ ...c, index: indexOf(c.index) }));
    if (!written.activity) return { snapshots, crossings, released };
    const activity: LedgerActivity[] = new Array<LedgerActivity>(n + siblings.length);
    written.activity.forEach((a, i) => (activity[indexOf(i)] = a));
    return { snapshots, crossings, released, activity };
  }

  async release(input: ReleaseInput): Promise<boolean> {
    const split = this.leases?.split(input.budgets, input.now);
    if (!split) return this.scripts.release(input);
    let released = await this.scripts.release({ ...input, budgets: split.direct });
    for (const { pool } of split.pools) {
      if (pool.release(input.reservationId, input.now)) released = true;
    }
    await Promise.all(split.pools.map(({ pool }) => pool.settling()));
    return released;
  }

  async extend(input: ExtendInput): Promise<boolean> {
    const { reservationId, expiresAt, now } = input;
    const split = this.leases?.split(input.budgets, now);
    const direct = split ? split.direct : input.budgets;
    let extended =
      direct.length > 0 && (await this.scripts.extend(direct, reservationId, expiresAt, now));
    for (const { pool } of split?.pools ?? []) {
      if (pool.extendHold(reservationId, expiresAt)) extended = true;
    }
    return extended;
  }

  async snapshot(budgets: readonly Budget[], now: number): Promise<LedgerSnapshot[]> {
    const split = this.leases?.split(budgets, now);
    if (!split) return this.scripts.snapshot(budgets, now);
    const out: LedgerSnapshot[] = new Array<LedgerSnapshot>(budgets.length);
    await Promise.all(split.pools.map(({ pool }) => pool.settleEnded(now)));
    const [direct, ...leased] = await Promise.all([
      this.scripts.snapshot(split.direct, now),
      ...split.pools.map(({ pool }) => this.scripts.snapshot([pool.budget], now)),
    ]);
    direct.forEach((snap, i) => (out[split.directIndex[i]] = snap));
    split.pools.forEach(({ pool, index }, i) => (out[index] = pool.snapshot(now, leased[i][0])));
    return out;
  }

  /** @internal Receives the thresholds crossed when a lease settles (the Ledger publishes them). */
  subscribeSettlements(
    listener: (budgets: readonly Budget[], outcome: CommitOutcome, at: number) => void,
  ): void {
    this.settled = listener;
  }

  async inspect(budgets: readonly Budget[], now: number): Promise<LedgerState[]> {
    const split = this.leases?.split(budgets, now);
    if (!split) return this.scripts.inspect(budgets, now);
    const out: LedgerState[] = new Array<LedgerState>(budgets.length);
    await Promise.all(split.pools.map(({ pool }) => pool.settleEnded(now)));
    const [direct, ...leased] = await Promise.all([
      this.scripts.inspect(split.direct, now),
      ...split.pools.map(({ pool }) => this.scripts.inspect([pool.budget], now)),
    ]);
    direct.forEach((state, i) => (out[split.directIndex[i]] = state));
    // A leased budget's usage includes what its leases spent here; its activity is Redis's, where
    // a lease's calls count as one commit when it settles.
    split.pools.forEach(({ pool, index }, i) => {
      const { commits, since } = leased[i][0];
      out[index] = { ...pool.snapshot(now, leased[i][0]), commits, since };
    });
    return out;
  }

  async reset(input: LedgerOpInput): Promise<ResetOutcome> {
    // A leased budget's leases here settle first, so what they spent before the reset is cleared
    // with the rest instead of landing in the window after it.
    const split = this.leases?.split([input.budget], input.now);
    if (split) await Promise.all(split.pools.map(({ pool }) => pool.sweep(input.now, true)));
    return this.scripts.reset(input);
  }

  credit(input: CreditInput): Promise<LedgerState> {
    return this.scripts.credit(input);
  }

  claim(input: ClaimInput): Promise<boolean> {
    return this.scripts.claim(input);
  }

  /**
   * Returns every lease (settling what it spent), then closes the client if the store created it
   * (from `url`); a client you passed stays open.
   */
  async close(deadline?: number): Promise<readonly UnwrittenUsage[]> {
    // At least one attempt (a command timeout) to return each lease, even past the deadline.
    const lost =
      (await this.leases?.close(deadline ?? Date.now() + this.runner.timeoutMs * 4)) ?? [];
    if (this.leases) (this.client as Redis).off('close', this.onConnectionClosed);
    if (!this.owned) return lost;
    await closeOwnedClient(this.client as Redis, this.runner.timeoutMs);
    return lost;
  }
}
