import { Redis } from 'ioredis';
import { type Amounts, type Budget, DIMENSIONS } from '../core/budget.js';
import { ledgerIdOf } from '../core/ledger-id.js';
import { amountsFor, decideReservation } from '../core/ledger-rules.js';
import type {
  ClaimInput,
  CommitInput,
  CommitOutcome,
  CreditInput,
  Crossing,
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
import { LedgerKeyBuilder } from './ledger-key.builder.js';
import type { LeasePool } from './lease/lease-pool.js';
import { resolveLeaseOptions } from './lease/lease.options.js';
import { LeasedBudgets } from './lease/leased-budgets.js';
import { SCRIPTS } from './lua.script.js';
import {
  checkStoreOptions,
  closeOwnedClient,
  type RedisLedgerStoreOptions,
} from './redis-store.options.js';
import {
  BudgetArgsEncoder,
  amountArgs,
  numArg,
  reserveArgs,
  unknownModeArg,
} from './script-args.encoder.js';
import { type RedisClient, ScriptRunner, malformed } from './script.runner.js';
import {
  NDIM,
  SNAP,
  toActivity,
  toAmounts,
  toFlag,
  toIndex,
  toNumber,
  toSnapshots,
  toState,
} from './script-reply.parser.js';

const ONE_TOKEN: Amounts = { tokens: 1 };
const EMPTY: LedgerSnapshot = Object.freeze({
  used: Object.freeze({}),
  reserved: Object.freeze({}),
});

/**
 * `outcome` (of `budgets`, then the `kept` siblings) with every sibling listed: one left out reads
 * as its ledger's budget does (or as zero) and fires nothing.
 */
function spreadSiblings(
  outcome: CommitOutcome,
  budgets: readonly Budget[],
  siblings: readonly Budget[],
  kept: readonly Budget[],
): CommitOutcome {
  const n = budgets.length;
  const at = (j: number) => {
    const k = kept.indexOf(siblings[j]);
    return k < 0 ? ownerOf(budgets, siblings[j]) : n + k;
  };
  return {
    ...outcome,
    snapshots: [
      ...outcome.snapshots.slice(0, n),
      ...siblings.map((_, j) => outcome.snapshots[at(j)] ?? EMPTY),
    ],
    crossings: outcome.crossings.map((c) =>
      c.index < n ? c : { ...c, index: n + siblings.indexOf(kept[c.index - n]) },
    ),
    activity: outcome.activity && [
      ...outcome.activity.slice(0, n),
      ...siblings.map((_, j) => outcome.activity?.[at(j)] ?? { commits: 0, since: 0 }),
    ],
  };
}

/** The index in `budgets` of the first budget whose ledger `sibling` shares, or -1. */
function ownerOf(budgets: readonly Budget[], sibling: Budget): number {
  const id = ledgerIdOf(sibling);
  for (let i = 0; i < budgets.length; i++) if (ledgerIdOf(budgets[i]) === id) return i;
  return -1;
}

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
  /** Whether a call's keys are checked to share a slot before sending (see assertOneSlot). */
  private readonly checkSlots: boolean;
  private readonly encoder: BudgetArgsEncoder;
  private readonly runner: ScriptRunner;
  private readonly leases: LeasedBudgets | undefined;
  /** Marks the leases unconfirmed when the connection closes (see LeasedBudgets.suspect). */
  private readonly onConnectionClosed = () => this.leases?.suspect();
  private settled:
    ((budgets: readonly Budget[], outcome: CommitOutcome, at: number) => void) | undefined;

  constructor(options: RedisLedgerStoreOptions) {
    const { client, url, timeoutMs, idleTtlMs } = checkStoreOptions(options);
    const hashTag = options.hashTag ?? (client?.isCluster ? 'single-slot' : 'per-budget');
    this.keys = new LedgerKeyBuilder(options.prefix ?? 'tokencap:', hashTag);
    this.checkSlots = typeof hashTag === 'function' || client?.isCluster === true;
    this.encoder = new BudgetArgsEncoder(idleTtlMs);
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
    if (options.lease !== undefined) {
      this.leases = new LeasedBudgets(
        resolveLeaseOptions(options.lease),
        {
          reserve: (input) => this.reserveDirect(input),
          commit: (input) => this.commitDirect(input),
          release: (input) => this.releaseDirect(input),
          extend: (budget, id, expiresAt, now) => this.extendDirect([budget], id, expiresAt, now),
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
    if (!split) return this.reserveDirect(input);
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
        outcome = await this.reserveDirect({
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
      const outcome = await this.commitDirect({ ...input, siblings: kept });
      return kept.length === siblings.length
        ? outcome
        : spreadSiblings(outcome, input.budgets, siblings, kept);
    }
    // Redis first: if it fails, nothing was recorded in the leases and the Ledger's retry is safe.
    const written = await this.commitDirect({ ...input, budgets: direct, siblings: kept });
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
    if (!split) return this.releaseDirect(input);
    let released = await this.releaseDirect({ ...input, budgets: split.direct });
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
      direct.length > 0 && (await this.extendDirect(direct, reservationId, expiresAt, now));
    for (const { pool } of split?.pools ?? []) {
      if (pool.extendHold(reservationId, expiresAt)) extended = true;
    }
    return extended;
  }

  async snapshot(budgets: readonly Budget[], now: number): Promise<LedgerSnapshot[]> {
    const split = this.leases?.split(budgets, now);
    if (!split) return this.snapshotDirect(budgets, now);
    const out: LedgerSnapshot[] = new Array<LedgerSnapshot>(budgets.length);
    await Promise.all(split.pools.map(({ pool }) => pool.settleEnded(now)));
    const [direct, ...leased] = await Promise.all([
      this.snapshotDirect(split.direct, now),
      ...split.pools.map(({ pool }) => this.snapshotDirect([pool.budget], now)),
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

  private async reserveDirect(input: ReserveInput): Promise<ReserveOutcome> {
    const { budgets } = input;
    if (budgets.length === 0) {
      const decision = decideReservation(input, []);
      return decision.ok ? { ...decision, snapshots: [] } : decision;
    }
    const script = SCRIPTS.reserve;
    const args = [...reserveArgs(input), ...this.encoder.encodeLimits(budgets, input.now)];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] === 'ok' && reply.length === 4) {
      const units = toNumber(reply[2], script, reply);
      const amounts = amountsFor(input.base, input.perUnit ?? ONE_TOKEN, units);
      return {
        ok: true,
        units,
        amounts,
        snapshots: toSnapshots(reply[3], budgets.length, script, reply),
      };
    }
    if (reply[0] === 'no' && reply.length === 5 + SNAP) {
      const index = toIndex(reply[2], budgets.length, script, reply);
      const dimension = DIMENSIONS[toIndex(reply[3], NDIM, script, reply)];
      const requested = toNumber(reply[4], script, reply);
      const [snapshot] = toSnapshots(reply.slice(5), 1, script, reply);
      return { ok: false, index, dimension, snapshot, requested };
    }
    throw malformed(script, reply);
  }

  /** The commit script; every sibling of `input` shares a ledger with one of its budgets. */
  private async commitDirect(input: CommitInput): Promise<CommitOutcome> {
    const { budgets } = input;
    if (budgets.length === 0) return { snapshots: [], crossings: [], released: false };
    const siblings = input.siblings ?? [];
    const owners = siblings.map((sibling) => ownerOf(budgets, sibling));
    const script = SCRIPTS.commit;
    const args = [
      input.reservationId,
      unknownModeArg(input.ifUnknown),
      input.reservedAt === undefined ? '' : numArg(input.reservedAt, 'reservedAt'),
      ...amountArgs(input.actual),
      ...this.encoder.encode(budgets, input.now),
      ...this.encoder.encodeSiblings(siblings, owners, input.now),
    ];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (
      reply[0] !== 'ok' ||
      reply.length !== 6 ||
      !Array.isArray(reply[4]) ||
      reply[4].length % 3 !== 0
    ) {
      throw malformed(script, reply);
    }
    const all = siblings.length === 0 ? budgets : [...budgets, ...siblings];
    const activity = toActivity(reply[5], all.length, script, reply);
    const released = toFlag(reply[2], script, reply);
    const snapshots = toSnapshots(reply[3], all.length, script, reply);
    const flat = reply[4] as unknown[];
    const crossings: Crossing[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const index = toIndex(flat[i], all.length, script, reply);
      const dimension = DIMENSIONS[toIndex(flat[i + 1], NDIM, script, reply)];
      const thresholds = all[index].thresholds;
      if (flat[i + 2] === -1) {
        crossings.push({ index, dimension, threshold: 1, exhausted: true });
      } else {
        const threshold = thresholds[toIndex(flat[i + 2], thresholds.length, script, reply)];
        crossings.push({ index, dimension, threshold, exhausted: false });
      }
    }
    return { snapshots, crossings, released, activity };
  }

  private async releaseDirect(input: ReleaseInput): Promise<boolean> {
    const { budgets } = input;
    if (budgets.length === 0) return false;
    const script = SCRIPTS.release;
    const args = [input.reservationId, ...this.encoder.encodeWindows(budgets, input.now)];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] !== 'ok' || reply.length !== 3) throw malformed(script, reply);
    return toFlag(reply[2], script, reply);
  }

  private async snapshotDirect(budgets: readonly Budget[], now: number): Promise<LedgerSnapshot[]> {
    if (budgets.length === 0) return [];
    const script = SCRIPTS.snapshot;
    const reply = await this.runner.run(
      script,
      this.keyList(budgets),
      this.encoder.encodeWindows(budgets, now),
      false,
    );
    if (reply[0] !== 'ok' || reply.length !== 3) throw malformed(script, reply);
    return toSnapshots(reply[2], budgets.length, script, reply);
  }

  async inspect(budgets: readonly Budget[], now: number): Promise<LedgerState[]> {
    const split = this.leases?.split(budgets, now);
    if (!split) return this.inspectDirect(budgets, now);
    const out: LedgerState[] = new Array<LedgerState>(budgets.length);
    await Promise.all(split.pools.map(({ pool }) => pool.settleEnded(now)));
    const [direct, ...leased] = await Promise.all([
      this.inspectDirect(split.direct, now),
      ...split.pools.map(({ pool }) => this.inspectDirect([pool.budget], now)),
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

  private async inspectDirect(budgets: readonly Budget[], now: number): Promise<LedgerState[]> {
    if (budgets.length === 0) return [];
    const script = SCRIPTS.inspect;
    const reply = await this.runner.run(
      script,
      this.keyList(budgets),
      this.encoder.encode(budgets, now),
      false,
    );
    if (reply[0] !== 'ok' || reply.length !== 4) throw malformed(script, reply);
    const snapshots = toSnapshots(reply[2], budgets.length, script, reply);
    const activity = toActivity(reply[3], budgets.length, script, reply);
    return snapshots.map((snapshot, i) => ({ ...snapshot, ...activity[i] }));
  }

  async reset(input: LedgerOpInput): Promise<ResetOutcome> {
    const script = SCRIPTS.reset;
    const budgets = [input.budget];
    // A leased budget's leases here settle first, so what they spent before the reset is cleared
    // with the rest instead of landing in the window after it.
    const split = this.leases?.split(budgets, input.now);
    if (split) await Promise.all(split.pools.map(({ pool }) => pool.sweep(input.now, true)));
    const args = this.encoder.encode(budgets, input.now);
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] !== 'ok' || reply.length !== 4 || !Array.isArray(reply[2])) {
      throw malformed(script, reply);
    }
    return {
      cleared: toAmounts(reply[2], 0, script, reply),
      state: toState(reply[3], script, reply),
    };
  }

  async credit(input: CreditInput): Promise<LedgerState> {
    const script = SCRIPTS.credit;
    const budgets = [input.budget];
    const args = [...amountArgs(input.amounts), ...this.encoder.encode(budgets, input.now)];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] !== 'ok' || reply.length !== 3) throw malformed(script, reply);
    return toState(reply[2], script, reply);
  }

  async claim(input: ClaimInput): Promise<boolean> {
    const script = SCRIPTS.claim;
    const budgets = [input.budget];
    const args = [input.marker, ...this.encoder.encode(budgets, input.now)];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] !== 'ok' || reply.length !== 3) throw malformed(script, reply);
    return toFlag(reply[2], script, reply);
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

  /** Moves a reservation's (or a lease's) expiry on every budget that still holds it. */
  private async extendDirect(
    budgets: readonly Budget[],
    id: string,
    expiresAt: number,
    now: number,
  ): Promise<boolean> {
    const script = SCRIPTS.extend;
    const args = [id, numArg(expiresAt, 'expiresAt'), ...this.encoder.encodeWindows(budgets, now)];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] !== 'ok' || reply.length !== 3) throw malformed(script, reply);
    return toFlag(reply[2], script, reply);
  }

  private keyList(budgets: readonly Budget[]): string[] {
    if (this.checkSlots) this.keys.assertOneSlot(budgets);
    const list: string[] = [];
    for (const budget of budgets) {
      const keys = this.keys.keysOf(budget);
      list.push(keys.ledger, keys.reservations, keys.marks);
    }
    return list;
  }
}
