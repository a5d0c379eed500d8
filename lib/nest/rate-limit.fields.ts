import { type Budget, resetOf, toStoreUnits } from '../core/budget.js';
import type { BudgetUsage } from '../core/events.js';
import type { BudgetExceededError } from '../errors.js';

/** The largest Integer a Structured Field may carry (RFC 9651, 15 digits). */
const MAX_SF_INTEGER = 999_999_999_999_999;

/** The values of the `RateLimit-Policy` and `RateLimit` fields for a set of open budgets. */
export interface RateLimitFields {
  /** `"session";q=50000;w=3600, "request";q=2000` */
  readonly policy: string;
  /** `"session";r=1234;t=1800, "request";r=2000` */
  readonly rateLimit: string;
}

/**
 * The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-09 and later) for `budgets`,
 * one list item per budget, in declaration order. Quotas are in each budget's primary dimension
 * (tokens when it limits tokens, else micro-dollars, else requests), the one `usage.dimension`
 * names; `w` and `t` only appear for a budget with a window. A scope open twice (two windows)
 * is named `scope`, then `scope.2`, so every identifier is unique.
 * @param usages the usage of each budget, in the same order.
 * @param now epoch ms, from the ledger's clock.
 */
export function rateLimitFields(
  budgets: readonly Budget[],
  usages: readonly BudgetUsage[],
  now: number,
): RateLimitFields {
  const seen = new Map<string, number>();
  const policy: string[] = [];
  const rateLimit: string[] = [];
  budgets.forEach((budget, i) => {
    const usage = usages[i];
    const count = (seen.get(budget.scope) ?? 0) + 1;
    seen.set(budget.scope, count);
    // Scope names are letters, digits, '_', '.' and '-': nothing to escape in an sf-string.
    const id = `"${count === 1 ? budget.scope : `${budget.scope}.${count}`}"`;
    const dim = usage.dimension;
    const quota = integer(budget.limits[dim] ?? 0);
    const remaining = integer(toStoreUnits(dim, usage.remaining));
    const resetsAt = resetOf(budget, now);
    const w = budget.window ? `;w=${integer(Math.ceil(budget.window.ms / 1000))}` : '';
    const t = resetsAt === undefined ? '' : `;t=${secondsUntil(resetsAt, now)}`;
    policy.push(`${id};q=${quota}${w}`);
    rateLimit.push(`${id};r=${remaining}${t}`);
  });
  return { policy: policy.join(', '), rateLimit: rateLimit.join(', ') };
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

function secondsUntil(at: number, now: number): number {
  return integer(Math.ceil(Math.max(0, at - now) / 1000));
}

function integer(n: number): number {
  return Math.min(MAX_SF_INTEGER, Math.max(0, Math.round(n)));
}
