import type { Budget } from '../../core/budget.js';
import { describeValue } from '../../core/describe-value.js';
import { type Duration, parseDuration } from '../../core/duration.js';
import { TokencapConfigError } from '../../errors.js';

/**
 * Budgets spent through leases (see docs/scaling.md): a replica reserves a chunk of the budget in
 * Redis in one operation, spends it in memory, and returns what it did not use when the lease
 * ends. Leased capacity counts as reserved in Redis, so the budget is never overspent; a crashed
 * replica's lease lapses after `ttl`.
 */
export interface LeaseOptions {
  /** Which budgets are leased: typically the one every call touches, `(b) => b.scope === 'global'`. */
  budgets: (budget: Budget) => boolean;
  /**
   * How long Redis holds a lease its replica never returns (a crash). A lease still covering calls
   * in flight near its end is extended.
   * @default '30s'
   */
  ttl?: Duration;
  /** How much spending a chunk should cover at this replica's recent burn rate. @default '1s' */
  horizon?: Duration;
  /** A lease unused this long is returned, so an idle replica strands nothing. @default '2s' */
  idle?: Duration;
}

export interface ResolvedLeaseOptions {
  budgets: (budget: Budget) => boolean;
  ttlMs: number;
  horizonMs: number;
  idleMs: number;
}

const LEASE_KEYS = new Set(['budgets', 'ttl', 'horizon', 'idle']);

export function resolveLeaseOptions(options: LeaseOptions): ResolvedLeaseOptions {
  if (options === null || typeof options !== 'object' || typeof options.budgets !== 'function') {
    throw new TokencapConfigError(
      `Invalid lease option of RedisLedgerStore: expected { budgets: (budget) => boolean, ttl?, horizon?, idle? }.`,
    );
  }
  const unknown = Object.keys(options).filter((key) => !LEASE_KEYS.has(key));
  if (unknown.length > 0) {
    throw new TokencapConfigError(
      `Unknown lease option ${unknown.map((k) => JSON.stringify(k)).join(', ')} of RedisLedgerStore: ` +
        `expected budgets, ttl, horizon or idle.`,
    );
  }
  const ttlMs = parseDuration(options.ttl ?? '30s', 'lease.ttl of RedisLedgerStore');
  const horizonMs = parseDuration(options.horizon ?? '1s', 'lease.horizon of RedisLedgerStore');
  const idleMs = parseDuration(options.idle ?? '2s', 'lease.idle of RedisLedgerStore');
  if (ttlMs < 1_000) {
    throw new TokencapConfigError(
      `Invalid lease.ttl ${describeValue(options.ttl)} of RedisLedgerStore: expected at least 1s.`,
    );
  }
  return { budgets: options.budgets, ttlMs, horizonMs, idleMs };
}
