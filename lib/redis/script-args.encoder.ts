import { type Amounts, type Budget, DIMENSIONS, type Dimension } from '../core/budget.js';
import { windowBounds } from '../core/budget-window.js';
import { markerPrefix, thresholdAmount } from '../core/ledger-rules.js';
import type { ReserveInput, UnknownReservationMode } from '../core/ledger-store.interface.js';
import { RedisStoreError } from './redis-store.error.js';

const POLICY_CODE = { 'hard-stop': 'h', degrade: 'd', notify: 'n' } as const;
const ONE_TOKEN: Amounts = { tokens: 1 };

/** A finite number as a script argument (Lua parses it back to the same double). */
export function numArg(value: number, what: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RedisStoreError(
      'invalid-input',
      `Invalid ${what} ${String(value)}: expected a finite number.`,
    );
  }
  return String(value);
}

/**
 * Encodes budgets for the scripts (see readBudgets in scripts/prelude.lua.ts). Window bounds,
 * threshold amounts and fired markers are computed here with the core's `windowBounds`,
 * `thresholdAmount` and `markerPrefix`, so both stores agree on all three and the scripts never
 * compute a window.
 */
export class BudgetArgsEncoder {
  private readonly cache = new WeakMap<Budget, readonly string[]>();
  private readonly limitCache = new WeakMap<Budget, readonly string[]>();

  /** @param idleTtlMs evict-after for budgets with neither `ttl` nor `window` (0: never). */
  constructor(private readonly idleTtlMs: number) {}

  /** Budgets for reserve-free writes (commit): every field of the spec (see readBudgets). */
  encode(budgets: readonly Budget[], now: number): string[] {
    return this.each(budgets, now, (budget) => this.budgetArgs(budget));
  }

  /**
   * The commit script's siblings: their count, then each one's `owner` (the index, from 0, of the
   * budget whose ledger it shares) and its spec as {@link encode} writes a budget's.
   */
  encodeSiblings(siblings: readonly Budget[], owners: readonly number[], now: number): string[] {
    const out = [String(siblings.length)];
    siblings.forEach((sibling, j) => {
      out.push(String(owners[j] + 1), ...this.encode([sibling], now).slice(2));
    });
    return out;
  }

  /** Budgets for the reserve script: no thresholds (see readLimits). */
  encodeLimits(budgets: readonly Budget[], now: number): string[] {
    return this.each(budgets, now, (budget) => this.limitArgs(budget));
  }

  /** Budgets for the scripts that need only their windows (snapshot, release; see readWindows). */
  encodeWindows(budgets: readonly Budget[], now: number): string[] {
    return this.each(budgets, now, undefined);
  }

  /** now, the count, then each budget's window bounds ('' '' for none) and `rest` of it. */
  private each(
    budgets: readonly Budget[],
    now: number,
    rest: ((budget: Budget) => readonly string[]) | undefined,
  ): string[] {
    const out = [numArg(now, 'now'), String(budgets.length)];
    for (const budget of budgets) {
      if (budget.window === undefined) {
        out.push('', '');
      } else {
        const { start, end } = windowBounds(budget.window, now);
        out.push(numArg(start, 'window start'), numArg(end, 'window end'));
      }
      if (rest) out.push(...rest(budget));
    }
    return out;
  }

  private limitArgs(budget: Budget): readonly string[] {
    let args = this.limitCache.get(budget);
    if (args) return args;
    const dims = Object.keys(budget.limits) as Dimension[];
    const list = [...this.headArgs(budget), String(dims.length)];
    for (const dim of dims) {
      list.push(String(dimIndex(dim) + 1), numArg(budget.limits[dim] as number, 'limit'));
    }
    args = Object.freeze(list);
    this.limitCache.set(budget, args);
    return args;
  }

  /** Evict ttl, policy and maxReservation, the start of every budget's spec but its windows. */
  private headArgs(budget: Budget): string[] {
    const evictTtl = budget.ttlMs ?? (budget.window === undefined ? this.idleTtlMs : 0);
    const policy = POLICY_CODE[budget.policy];
    if (!policy)
      throw new RedisStoreError(
        'invalid-input',
        `Budget "${budget.id}" has an unknown policy ${JSON.stringify(budget.policy)}.`,
      );
    return [numArg(evictTtl, 'ttl'), policy, numArg(budget.maxReservation ?? 0, 'maxReservation')];
  }

  private budgetArgs(budget: Budget): readonly string[] {
    let args = this.cache.get(budget);
    if (args) return args;
    const dims = Object.keys(budget.limits) as Dimension[];
    const list: string[] = [
      ...this.headArgs(budget),
      String(budget.thresholds.length),
      ...budget.thresholds.map(String),
      String(dims.length),
    ];
    for (const dim of dims) {
      const limit = budget.limits[dim] as number;
      list.push(String(dimIndex(dim) + 1), numArg(limit, 'limit'), markerPrefix(dim, limit));
      for (const t of budget.thresholds) list.push(String(thresholdAmount(t, limit)));
    }
    args = Object.freeze(list);
    this.cache.set(budget, args);
    return args;
  }
}

/** The reserve script's own arguments (after the deadline, before `now` and the budgets). */
export function reserveArgs(input: ReserveInput): string[] {
  const perUnit = input.perUnit ?? ONE_TOKEN;
  const units = input.units ?? { min: 0, max: 0, ifUnbounded: 0 };
  const present = (amounts: Amounts, dim: Dimension, what: string) =>
    Object.prototype.hasOwnProperty.call(amounts, dim) ? numArg(amounts[dim] ?? 0, what) : '';
  const out = [input.reservationId, numArg(input.expiresAt, 'expiresAt')];
  for (const dim of DIMENSIONS) out.push(present(input.base, dim, `base ${dim}`));
  for (const dim of DIMENSIONS) out.push(present(perUnit, dim, `perUnit ${dim}`));
  const min = numArg(units.min, 'units.min');
  for (const dim of DIMENSIONS) {
    // decideReservation's `need`, which depends on no ledger.
    out.push(
      numArg(Math.ceil((input.base[dim] ?? 0) + units.min * (perUnit[dim] ?? 0)), `need ${dim}`),
    );
  }
  const max = units.max === Infinity ? 'inf' : numArg(units.max, 'units.max');
  out.push(min, max, numArg(units.ifUnbounded, 'units.ifUnbounded'));
  return out;
}

const MODE_CODE: Record<UnknownReservationMode, string> = {
  charge: 'c',
  skip: 's',
  'charge-once': 'o',
};

/** The commit script's `ifUnknown` argument. */
export function unknownModeArg(mode: UnknownReservationMode = 'charge'): string {
  const code = MODE_CODE[mode];
  if (!Object.prototype.hasOwnProperty.call(MODE_CODE, mode)) {
    throw new RedisStoreError(
      'invalid-input',
      `Invalid ifUnknown ${JSON.stringify(mode)}: expected 'charge', 'skip' or 'charge-once'.`,
    );
  }
  return code;
}

/** Amounts as one argument per dimension. */
export function amountArgs(amounts: Amounts): string[] {
  return DIMENSIONS.map((dim) => numArg(amounts[dim] ?? 0, `amount ${dim}`));
}

export function dimIndex(dim: Dimension): number {
  const index = DIMENSIONS.indexOf(dim);
  if (index < 0)
    throw new RedisStoreError('invalid-input', `Unknown dimension ${JSON.stringify(dim)}.`);
  return index;
}
