import { TokencapConfigError } from '../errors.js';
import { describeValue } from './describe-value.js';
import {
  type Amounts,
  type Budget,
  DIMENSIONS,
  type Dimension,
  MAX_AMOUNT,
  POLICIES,
  toStoreUnits,
} from './budget.js';

// The engine's public methods take budgets and amounts from user code; a negative, NaN or unknown
// amount would silently corrupt a ledger (or lift a limit), so they are checked at the boundary.

/** Checks that every element is a budget built by `defineBudget` (or `@Budget`). */
export function assertBudgets(
  budgets: unknown,
  where: string,
): asserts budgets is readonly Budget[] {
  if (!Array.isArray(budgets)) {
    throw new TokencapConfigError(
      `${where}: expected an array of budgets, got ${describeValue(budgets)}.`,
    );
  }
  for (let i = 0; i < budgets.length; i++) {
    if (!(i in budgets)) continue; // A hole, as forEach skips it.
    const b = budgets[i] as Partial<Budget> | null;
    const ok =
      b !== null &&
      typeof b === 'object' &&
      typeof b.id === 'string' &&
      typeof b.scope === 'string' &&
      typeof b.key === 'string' &&
      b.limits !== null &&
      typeof b.limits === 'object' &&
      POLICIES.includes(b.policy as Budget['policy']) &&
      Array.isArray(b.thresholds);
    if (!ok) {
      throw new TokencapConfigError(
        `${where}: budgets[${i}] is ${describeValue(b)}, not a budget; build budgets with defineBudget({ scope, key, limit }).`,
      );
    }
  }
}

/** Checks amounts: known dimensions, each a finite number from 0 to MAX_AMOUNT. */
export function assertAmounts(amounts: unknown, where: string): asserts amounts is Amounts {
  if (amounts === null || typeof amounts !== 'object' || Array.isArray(amounts)) {
    throw new TokencapConfigError(
      `${where}: expected amounts such as { tokens: 120 }, got ${describeValue(amounts)}.`,
    );
  }
  // Stores read amounts both ways (for...in, and amounts.tokens), inherited properties included,
  // so both are checked: every enumerable key, and every dimension as a store reads it.
  for (const key in amounts) {
    if (!DIMENSIONS.includes(key as Dimension)) {
      throw new TokencapConfigError(
        `${where}: unknown dimension ${JSON.stringify(key.slice(0, 64))}; expected tokens, usd (micro-dollars) or requests.`,
      );
    }
  }
  for (const dimension of DIMENSIONS) {
    const value = (amounts as Amounts)[dimension];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TokencapConfigError(
        `${where}: ${dimension} is ${describeValue(value)}; expected a finite number >= 0.`,
      );
    }
    if (value > MAX_AMOUNT) {
      throw new TokencapConfigError(
        `${where}: ${dimension} is ${describeValue(value)}; expected at most ${MAX_AMOUNT} (MAX_AMOUNT, in store units).`,
      );
    }
  }
}

/** Checks a flexible-units request: whole numbers >= 0 (max may be Infinity; a max below min grants min). */
export function assertUnits(
  units: { min: number; max: number; ifUnbounded: number } | undefined,
  where: string,
): void {
  if (units === undefined) return;
  const whole = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (
    units === null ||
    typeof units !== 'object' ||
    !whole(units.min) ||
    !(whole(units.max) || units.max === Infinity) ||
    !whole(units.ifUnbounded)
  ) {
    throw new TokencapConfigError(
      `${where}: units ${describeValue(units)} are invalid; expected whole numbers >= 0 for min, max (or Infinity) and ifUnbounded.`,
    );
  }
}

/** Validates a credit (user units) and converts it to store units. */
export function creditAmounts(budget: Budget, amounts: unknown): Amounts {
  if (amounts === null || typeof amounts !== 'object' || Array.isArray(amounts)) {
    throw new TokencapConfigError(
      `Invalid credit ${describeValue(amounts)} for budget "${budget.scope}": expected { tokens?, usd?, requests? }.`,
    );
  }
  const out: Amounts = {};
  for (const [name, value] of Object.entries(amounts)) {
    if (value === undefined) continue;
    if (!DIMENSIONS.includes(name as Dimension) || budget.limits[name as Dimension] === undefined) {
      const limited = Object.keys(budget.limits).join(', ');
      throw new TokencapConfigError(
        `Invalid credit for budget "${budget.scope}": it does not limit ${JSON.stringify(name.slice(0, 64))} (it limits ${limited}).`,
      );
    }
    const dim = name as Dimension;
    const stored =
      typeof value === 'number' && Number.isFinite(value) && value > 0
        ? toStoreUnits(dim, value)
        : 0;
    if (!(stored >= 1) || (dim !== 'usd' && !Number.isInteger(value)) || stored > MAX_AMOUNT) {
      throw new TokencapConfigError(
        `Invalid ${dim} credit ${describeValue(value)} for budget "${budget.scope}": expected a positive ` +
          `${dim === 'usd' ? 'number of dollars' : `whole number of ${dim}`} up to MAX_AMOUNT.`,
      );
    }
    out[dim] = stored;
  }
  if (Object.keys(out).length === 0) {
    throw new TokencapConfigError(
      `Invalid credit ${JSON.stringify(amounts)} for budget "${budget.scope}": it grants nothing.`,
    );
  }
  return out;
}

/**
 * Amounts in store units are whole: tokens, requests, and money as micro-dollars (so totals never
 * drift). A fraction (an estimate, a caller's own arithmetic) is rounded up, never down, so
 * rounding can only over-count.
 */
export function wholeCounts(amounts: Amounts): Amounts {
  const { tokens, requests, usd } = amounts;
  if (
    (tokens === undefined || Number.isInteger(tokens)) &&
    (requests === undefined || Number.isInteger(requests)) &&
    (usd === undefined || Number.isInteger(usd))
  ) {
    return amounts;
  }
  const whole: Amounts = { ...amounts };
  if (tokens !== undefined) whole.tokens = Math.ceil(tokens);
  if (requests !== undefined) whole.requests = Math.ceil(requests);
  if (usd !== undefined) whole.usd = Math.ceil(usd);
  return whole;
}
