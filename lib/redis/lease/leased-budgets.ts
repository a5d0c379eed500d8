import type { Budget } from '../../core/budget.js';
import type { UnwrittenUsage } from '../../core/ledger-store.interface.js';
import { RedisConfigError } from '../redis-store.error.js';
import type { LeaseBackend } from './lease-backend.interface.js';
import { LeasePool } from './lease-pool.js';
import type { ResolvedLeaseOptions } from './lease.options.js';

/** A call's budgets split into those written to Redis per call and those spent from leases. */
export interface SplitBudgets {
  direct: Budget[];
  /** Index in the call's budgets of each direct budget. */
  directIndex: number[];
  pools: { pool: LeasePool; index: number }[];
}

/**
 * The lease pools of a store, one per leased ledger, and the sweep that retires idle and ageing
 * leases and settles them (an `unref()`'d timer, stopped by `close`).
 */
export class LeasedBudgets {
  private readonly pools = new Map<string, LeasePool>();
  private readonly leased = new WeakMap<Budget, boolean>();
  private readonly timer: NodeJS.Timeout;
  /** The ledger clock minus the wall clock at the last operation, so the sweep runs on ledger time. */
  private offset = 0;

  constructor(
    private readonly options: ResolvedLeaseOptions,
    private readonly backend: LeaseBackend,
    private readonly ledgerKeyOf: (budget: Budget) => string,
  ) {
    const every = Math.max(20, Math.min(options.idleMs, options.ttlMs / 4) / 2);
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  /** The call's budgets split, or undefined when none is leased (the common, unchanged path). */
  split(budgets: readonly Budget[], now: number): SplitBudgets | undefined {
    let split: SplitBudgets | undefined;
    for (let i = 0; i < budgets.length; i++) {
      const budget = budgets[i];
      if (!this.isLeased(budget)) continue;
      if (!split) {
        split = { direct: budgets.slice(0, i), directIndex: [], pools: [] };
        for (let j = 0; j < i; j++) split.directIndex.push(j);
      }
      split.pools.push({ pool: this.poolOf(budget), index: i });
    }
    if (split) {
      this.assertOneDeclaration(budgets, split);
      this.offset = now - Date.now();
      const leasedAt = new Set(split.pools.map((p) => p.index));
      split.direct = [];
      split.directIndex = [];
      budgets.forEach((b, i) => {
        if (!leasedAt.has(i)) {
          split.direct.push(b);
          split.directIndex.push(i);
        }
      });
    }
    return split;
  }

  /** The connection to Redis closed (a restart may have lost the leases): confirm each before use. */
  suspect(): void {
    for (const pool of this.pools.values()) pool.suspect();
  }

  /** Retires every lease and settles it (calls still in flight are charged when they commit). */
  /** Returns every lease (trying until `deadline`); resolves the usage Redis never took. */
  async close(deadline: number): Promise<UnwrittenUsage[]> {
    clearInterval(this.timer);
    do {
      await this.sweep(true);
      if ([...this.pools.values()].every((p) => p.empty)) return [];
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (Date.now() < deadline);
    return [...this.pools.values()].flatMap((pool) =>
      pool.unwritten().map((u) => ({ ...u, budgets: [pool.budget] })),
    );
  }

  private async sweep(all = false): Promise<void> {
    const now = Date.now() + this.offset;
    await Promise.all([...this.pools.values()].map((pool) => pool.sweep(now, all)));
  }

  /**
   * A leased ledger is named by one declaration: a lease is held and charged under its pool's
   * budget, so another declaration of that ledger in the call (leased or not) would be charged
   * again, and one with other limits would not be enforced by the lease.
   */
  private assertOneDeclaration(budgets: readonly Budget[], split: SplitBudgets): void {
    const leased = new Map<string, Budget>();
    for (const { pool, index } of split.pools) {
      const budget = budgets[index];
      const key = this.ledgerKeyOf(budget);
      const other = leased.get(key) ?? (sameRules(pool.budget, budget) ? undefined : pool.budget);
      if (other) throw declaredTwice(other, budget, key);
      leased.set(key, budget);
    }
    for (let i = 0; i < budgets.length; i++) {
      if (split.pools.some((p) => p.index === i)) continue;
      const other = leased.get(this.ledgerKeyOf(budgets[i]));
      if (other) throw declaredTwice(other, budgets[i], this.ledgerKeyOf(budgets[i]));
    }
  }

  private isLeased(budget: Budget): boolean {
    let leased = this.leased.get(budget);
    if (leased === undefined) {
      try {
        leased = this.options.budgets(budget) === true;
      } catch (error) {
        // The application's function failed: a configuration error, never a Redis outage.
        throw new RedisConfigError(
          'invalid-input',
          `RedisLedgerStore's lease.budgets function threw for budget ${budget.id}: ` +
            (error instanceof Error ? error.message : String(error)),
        );
      }
      if (leased && budget.policy === 'degrade') {
        throw new RedisConfigError(
          'invalid-input',
          `Budget ${budget.id} is leased (the store's lease.budgets chose it) but has policy 'degrade': ` +
            `leases decide on capacity held, so lease only hard-stop or notify budgets.`,
        );
      }
      this.leased.set(budget, leased);
    }
    return leased;
  }

  private poolOf(budget: Budget): LeasePool {
    const key = this.ledgerKeyOf(budget);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new LeasePool(budget, this.options, this.backend);
      this.pools.set(key, pool);
    }
    return pool;
  }
}

function sameRules(a: Budget, b: Budget): boolean {
  return (
    a === b || (a.policy === b.policy && JSON.stringify(a.limits) === JSON.stringify(b.limits))
  );
}

function declaredTwice(first: Budget, second: Budget, ledger: string): RedisConfigError {
  const describe = (b: Budget, leased: string) =>
    `${b.id} (limits ${JSON.stringify(b.limits)}, policy ${b.policy}, ${leased})`;
  return new RedisConfigError(
    'invalid-input',
    `Budgets ${describe(first, 'leased')} and ${describe(second, 'also declared')} share one ledger ` +
      `(${ledger}), which is leased: a leased ledger is held and charged under one declaration, so ` +
      `another would be charged twice or not enforced. Give the store's lease.budgets one declaration ` +
      `of it, and name only that one.`,
  );
}
