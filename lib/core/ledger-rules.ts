import { type Amounts, type Budget, type Dimension, MAX_AMOUNT } from './budget.js';
import type {
  Crossing,
  LedgerSnapshot,
  ReserveInput,
  ReserveOutcome,
} from './ledger-store.interface.js';

// The rules every store applies, kept in one place so the Redis scripts have a single reference
// to match (test/contract runs both stores through the same cases).

const ONE_TOKEN: Amounts = { tokens: 1 };

/**
 * How long a store remembers a reservation id it must not forget: a reservation that lapsed
 * uncommitted (so a commit retried with `ifUnknown: 'skip'` is still charged) is remembered this
 * long past its expiry, and a charge made with `ifUnknown: 'charge-once'` this long past its commit.
 */
export const SETTLEMENT_MEMORY_MS = 15 * 60_000;

// The loops below read own dimensions only, as Object.keys would, in its order, without the array.
function isOwn(amounts: Readonly<Amounts>, dim: string): dim is Dimension {
  return Object.prototype.hasOwnProperty.call(amounts, dim);
}

/** `used + amount`, saturating at {@link MAX_AMOUNT} so a total can never become Infinity. */
export function addUsage(used: number, amount: number): number {
  return Math.min(used + amount, MAX_AMOUNT);
}

/** The amount in store units at which `threshold` of `limit` counts as reached. */
export function thresholdAmount(threshold: number, limit: number): number {
  // 0.9 * 50_000 is 45000.000000000004 in binary floating point; the tolerance keeps it 45_000.
  return Math.ceil(threshold * limit - 1e-9);
}

/**
 * Amounts of `base + units × perUnit`, money rounded up to a whole micro-dollar, each at most
 * {@link MAX_AMOUNT} (only a budget that never refuses can be asked to hold more).
 */
export function amountsFor(base: Amounts, perUnit: Amounts, units: number): Amounts {
  const out: Amounts = {};
  for (const dim in base) {
    if (!isOwn(base, dim)) continue;
    out[dim] = Math.min(base[dim] ?? 0, MAX_AMOUNT);
  }
  if (units > 0) {
    for (const dim in perUnit) {
      if (!isOwn(perUnit, dim)) continue;
      out[dim] = Math.min(Math.ceil((out[dim] ?? 0) + units * (perUnit[dim] ?? 0)), MAX_AMOUNT);
    }
  }
  return out;
}

/** A budget's limit in `dim` for the current window: the declared limit plus the window's credit. */
export function effectiveLimit(
  budget: Budget,
  dim: Dimension,
  credit: Amounts | undefined,
): number {
  return Math.min((budget.limits[dim] as number) + (credit?.[dim] ?? 0), MAX_AMOUNT);
}

/**
 * Decides a reservation from the budgets' current snapshots: either the number of flexible units
 * granted and the amounts to hold, or the first budget and dimension that refuses.
 */
export function decideReservation(
  input: Pick<ReserveInput, 'budgets' | 'base' | 'perUnit' | 'units'>,
  snapshots: readonly LedgerSnapshot[],
): { ok: true; units: number; amounts: Amounts } | Extract<ReserveOutcome, { ok: false }> {
  const perUnit = input.perUnit ?? ONE_TOKEN;
  const units = input.units ?? { min: 0, max: 0, ifUnbounded: 0 };
  let max = units.max;
  let maxReservation = Infinity;
  for (let i = 0; i < input.budgets.length; i++) {
    const budget = input.budgets[i];
    if (budget.policy === 'notify') continue;
    const snapshot = snapshots[i];
    for (const dim in budget.limits) {
      if (!isOwn(budget.limits, dim)) continue;
      const limit = effectiveLimit(budget, dim, snapshot.credit);
      const held = (snapshot.used[dim] ?? 0) + (snapshot.reserved[dim] ?? 0);
      const need = Math.ceil((input.base[dim] ?? 0) + units.min * (perUnit[dim] ?? 0));
      if (budget.policy === 'degrade') {
        // Degrade decides on committed usage: calls in flight (an uncapped one holds its default
        // output allowance) must not refuse the others while nothing has been spent.
        if ((snapshot.used[dim] ?? 0) >= limit)
          return { ok: false, index: i, dimension: dim, snapshot, requested: need };
        continue;
      }
      if (held + need > limit)
        return { ok: false, index: i, dimension: dim, snapshot, requested: need };
      const per = perUnit[dim] ?? 0;
      if (per > 0) max = Math.min(max, Math.floor((limit - held - (input.base[dim] ?? 0)) / per));
    }
    if (budget.maxReservation !== undefined) {
      maxReservation = Math.min(maxReservation, budget.maxReservation);
    }
  }
  let granted = Number.isFinite(max) ? Math.max(units.min, max) : units.ifUnbounded;
  // maxReservation caps what one call holds on hard-stop and degrade budgets alike.
  granted = Math.max(units.min, Math.min(granted, maxReservation));
  let amounts = amountsFor(input.base, perUnit, granted);
  // Money rounds up per call, so the floor above can leave one unit too many: step back until it fits.
  while (granted > units.min && !fits(input.budgets, snapshots, amounts)) {
    granted -= 1;
    amounts = amountsFor(input.base, perUnit, granted);
  }
  return { ok: true, units: granted, amounts };
}

function fits(
  budgets: readonly Budget[],
  snapshots: readonly LedgerSnapshot[],
  amounts: Amounts,
): boolean {
  for (let i = 0; i < budgets.length; i++) {
    if (budgets[i].policy !== 'hard-stop') continue;
    for (const dim in budgets[i].limits) {
      if (!isOwn(budgets[i].limits, dim)) continue;
      const held = (snapshots[i].used[dim] ?? 0) + (snapshots[i].reserved[dim] ?? 0);
      if (held + (amounts[dim] ?? 0) > effectiveLimit(budgets[i], dim, snapshots[i].credit)) {
        return false;
      }
    }
  }
  return true;
}

/**
 * The part of a fired marker naming a declared limit (`tokens:1000`). Budgets sharing a ledger
 * but declaring different limits fire their thresholds apart; the Redis scripts append
 * `@<threshold>` to it exactly as {@link firedMarker} does.
 */
export function markerPrefix(dimension: Dimension, limit: number): string {
  return `${dimension}:${limit}`;
}

/** Marker of a threshold already fired in this window (`tokens:1000@0.8`; `@x` for exhaustion). */
export function firedMarker(dimension: Dimension, limit: number, threshold: number | 'x'): string {
  return `${markerPrefix(dimension, limit)}@${threshold}`;
}

/** Marker of a forecast already fired in this window (`tokens:1000@f`). */
export function forecastMarker(dimension: Dimension, limit: number): string {
  return `${markerPrefix(dimension, limit)}@f`;
}

/**
 * Thresholds that `used` has reached and that have not fired yet in this window, ascending per
 * dimension, with exhaustion last. Adds each to `fired`. Thresholds are fractions of the limit
 * raised by the window's `credit`; markers name the declared limit, so each fires once per window.
 */
export function collectCrossings(
  index: number,
  budget: Budget,
  used: Amounts,
  fired: { has(marker: string): boolean; add(marker: string): unknown },
  out: Crossing[],
  credit?: Amounts,
): void {
  for (const dim in budget.limits) {
    if (!isOwn(budget.limits, dim)) continue;
    const declared = budget.limits[dim] as number;
    const limit = effectiveLimit(budget, dim, credit);
    const value = used[dim] ?? 0;
    for (const threshold of budget.thresholds) {
      if (value < thresholdAmount(threshold, limit)) break;
      const marker = firedMarker(dim, declared, threshold);
      if (fired.has(marker)) continue;
      fired.add(marker);
      out.push({ index, dimension: dim, threshold, exhausted: false });
    }
    if (value >= limit) {
      const marker = firedMarker(dim, declared, 'x');
      if (!fired.has(marker)) {
        fired.add(marker);
        out.push({ index, dimension: dim, threshold: 1, exhausted: true });
      }
    }
  }
}

/**
 * After a credit: forgets the fired markers of `budget` that usage no longer reaches under the
 * raised limit (thresholds, exhaustion), and its forecasts, so each fires again when reached.
 */
export function rearmAfterCredit(
  budget: Budget,
  used: Amounts,
  credit: Amounts | undefined,
  fired: { delete(marker: string): unknown },
): void {
  for (const dim of Object.keys(budget.limits) as Dimension[]) {
    const declared = budget.limits[dim] as number;
    const limit = effectiveLimit(budget, dim, credit);
    const value = used[dim] ?? 0;
    for (const threshold of budget.thresholds) {
      if (value < thresholdAmount(threshold, limit))
        fired.delete(firedMarker(dim, declared, threshold));
    }
    if (value < limit) fired.delete(firedMarker(dim, declared, 'x'));
    fired.delete(forecastMarker(dim, declared));
  }
}

/**
 * After a credit: the same as {@link rearmAfterCredit} for every marker of the ledger, whichever
 * declaration fired it. Budgets of one ledger share its credit, so a credit through one declaration
 * raises the limits of the others too; their markers name their declared limit, which is enough to
 * tell whether usage still reaches them.
 */
export function rearmLedgerAfterCredit(
  used: Amounts,
  credit: Amounts | undefined,
  fired: Iterable<string>,
  unfire: (marker: string) => unknown,
): void {
  for (const marker of [...fired]) {
    const match = /^([a-z]+):(\d+)@(.+)$/.exec(marker);
    if (!match) continue;
    const dim = match[1] as Dimension;
    const limit = Math.min(Number(match[2]) + (credit?.[dim] ?? 0), MAX_AMOUNT);
    const value = used[dim] ?? 0;
    const threshold = match[3];
    if (threshold === 'f') unfire(marker);
    else if (threshold === 'x') {
      if (value < limit) unfire(marker);
    } else if (value < thresholdAmount(Number(threshold), limit)) unfire(marker);
  }
}
