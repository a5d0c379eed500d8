import { type Budget, DIMENSIONS, type Dimension, resetOf, toStoreUnits } from '../core/budget.js';
import { windowBounds } from '../core/budget-window.js';
import type { BudgetUsage } from '../core/events.js';
import type { BudgetExceededError } from '../errors.js';

/** The largest Integer a Structured Field may carry (RFC 9651, 15 digits). */
const MAX_SF_INTEGER = 999_999_999_999_999;

/**
 * The `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers-09 and later) for `budgets`,
 * one list item per budget, in declaration order: `"session";q=50000;w=3600`. Quotas are in each
 * budget's primary dimension (tokens when it limits tokens, else micro-dollars, else requests);
 * `w` only appears for a budget with a window: the length of the window holding `now`, so a
 * calendar month says 2678400 in January and 2419200 in a common February, and a calendar day
 * with a DST change says 82800 or 90000. It needs no usage, so it can be set before any is read.
 * @param now epoch ms, from the ledger's clock.
 */
export function rateLimitPolicyField(budgets: readonly Budget[], now: number): string {
  const ids = identifiers(budgets);
  return budgets
    .map((budget, i) => {
      const quota = integer(budget.limits[primaryDimension(budget)] ?? 0);
      const w = budget.window ? `;w=${windowSeconds(budget.window, now)}` : '';
      return `${ids[i]};q=${quota}${w}`;
    })
    .join(', ');
}

/**
 * The `RateLimit` field for `budgets`: what each has left (`r`, after committed usage and
 * in-flight reservations, in the unit of its quota) and, for a windowed budget, the seconds until
 * it resets (`t`): `"session";r=1234;t=1800`.
 * @param usages the usage of each budget, in the same order.
 * @param now epoch ms, from the ledger's clock.
 */
export function rateLimitField(
  budgets: readonly Budget[],
  usages: readonly BudgetUsage[],
  now: number,
): string {
  const ids = identifiers(budgets);
  return budgets
    .map((budget, i) => {
      const usage = usages[i];
      const remaining = integer(toStoreUnits(usage.dimension, usage.remaining));
      const resetsAt = resetOf(budget, now);
      const t = resetsAt === undefined ? '' : `;t=${secondsUntil(resetsAt, now)}`;
      return `${ids[i]};r=${remaining}${t}`;
    })
    .join(', ');
}

// The dimension usage reports first (see `usageOf`): tokens, else usd, else requests.
function primaryDimension(budget: Budget): Dimension {
  return DIMENSIONS.find((d) => budget.limits[d] !== undefined) ?? 'tokens';
}

// A scope open twice (two windows) is named `scope`, then `scope.2`, so every identifier is
// unique. Scope names are letters, digits, '_', '.' and '-': nothing to escape in an sf-string.
function identifiers(budgets: readonly Budget[]): string[] {
  const seen = new Map<string, number>();
  return budgets.map((budget) => {
    const count = (seen.get(budget.scope) ?? 0) + 1;
    seen.set(budget.scope, count);
    return `"${count === 1 ? budget.scope : `${budget.scope}.${count}`}"`;
  });
}

/**
 * The `Retry-After` of a refusal, in seconds: until the refusing budget's window resets. None
 * when retrying can never help: the budget has no window, or (hard-stop) the call asks for more
 * than the whole limit.
 */
export function retryAfterSeconds(error: BudgetExceededError, now: number): number | undefined {
  if (error.resetsAt === undefined) return undefined;
  if (error.policy === 'hard-stop' && error.requested > error.limit) return undefined;
  return Math.max(1, secondsUntil(error.resetsAt, now));
}

function windowSeconds(window: NonNullable<Budget['window']>, now: number): number {
  const { start, end } = windowBounds(window, now);
  return integer(Math.ceil((end - start) / 1000));
}

function secondsUntil(at: number, now: number): number {
  return integer(Math.ceil(Math.max(0, at - now) / 1000));
}

function integer(n: number): number {
  return Math.min(MAX_SF_INTEGER, Math.max(0, Math.round(n)));
}
