import { type Amounts, type Budget, DIMENSIONS } from '../core/budget.js';
import { amountsFor, decideReservation } from '../core/ledger-rules.js';
import type {
  ClaimInput,
  CommitInput,
  CommitOutcome,
  CreditInput,
  Crossing,
  LedgerOpInput,
  LedgerSnapshot,
  LedgerState,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
  ResetOutcome,
} from '../core/ledger-store.interface.js';
import { ownerOf } from './commit-siblings.spreader.js';
import type { LedgerKeyBuilder } from './ledger-key.builder.js';
import { SCRIPTS } from './lua.script.js';
import {
  type BudgetArgsEncoder,
  amountArgs,
  numArg,
  reserveArgs,
  unknownModeArg,
} from './script-args.encoder.js';
import { type ScriptRunner, malformed } from './script.runner.js';
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

/** The default per-unit amount: one token per unit (output tokens). */
export const ONE_TOKEN: Amounts = { tokens: 1 };

/**
 * The store's Lua scripts on the budgets given, one `EVALSHA` each: the arguments each script
 * takes, and its reply checked and read. Leases are the store's concern, not these.
 */
export class LedgerScripts {
  constructor(
    private readonly runner: ScriptRunner,
    private readonly keys: LedgerKeyBuilder,
    /** Whether a call's keys are checked to share a slot before sending (see assertOneSlot). */
    private readonly checkSlots: boolean,
    private readonly encoder: BudgetArgsEncoder,
  ) {}

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
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
  async commit(input: CommitInput): Promise<CommitOutcome> {
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

  async release(input: ReleaseInput): Promise<boolean> {
    const { budgets } = input;
    if (budgets.length === 0) return false;
    const script = SCRIPTS.release;
    const args = [input.reservationId, ...this.encoder.encodeWindows(budgets, input.now)];
    const reply = await this.runner.run(script, this.keyList(budgets), args);
    if (reply[0] !== 'ok' || reply.length !== 3) throw malformed(script, reply);
    return toFlag(reply[2], script, reply);
  }

  async snapshot(budgets: readonly Budget[], now: number): Promise<LedgerSnapshot[]> {
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

  /** The reset script (a leased budget's leases are settled by the store first). */
  async reset(input: LedgerOpInput): Promise<ResetOutcome> {
    const script = SCRIPTS.reset;
    const budgets = [input.budget];
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

  /** Moves a reservation's (or a lease's) expiry on every budget that still holds it. */
  async extend(
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
