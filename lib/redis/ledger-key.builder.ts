import type { Budget } from '../core/budget.js';
import { ledgerIdOf } from '../core/ledger-id.js';
import { messageOf } from '../core/store-error.reader.js';
import { TokencapConfigError } from '../errors.js';
import { clusterSlot } from './cluster-slot.js';
import { RedisConfigError } from './redis-store.error.js';

/**
 * How keys are hash-tagged for Redis Cluster.
 * - `per-budget`: each ledger's keys share a slot of their own (`tokencap:{session:abc}:l`), so
 *   budgets spread over the cluster, but a call naming several budgets only runs if they land on
 *   one slot (Cluster refuses a script whose keys span slots).
 * - `single-slot`: every key shares one tag (`tokencap:{all}:session:abc:l`), so any set of
 *   budgets is reserved atomically on Cluster, at the cost of one shard carrying all ledgers.
 * - a function: the application picks each budget's tag (`(b) => 'tenant:' + tenantOf(b)`), so the
 *   budgets of one tenant share a slot (one atomic script) and tenants spread over the shards
 *   (`tokencap:{tenant:42}:session:abc:l`). Return `undefined` for the budget's own tag, as in
 *   `per-budget`. Every call's budgets must share a slot: the store checks before sending.
 */
export type HashTagMode = 'per-budget' | 'single-slot' | HashTagFunction;

/** Picks a budget's Cluster hash tag: up to 64 characters without braces, whitespace or control characters. */
export type HashTagFunction = (budget: Budget) => string | undefined;

/** The keys of one ledger: its hash, its reservation expiry index and its marks (sorted sets). */
export interface LedgerKeys {
  readonly ledger: string;
  readonly reservations: string;
  readonly marks: string;
  /** The Cluster hash slot of all three. */
  readonly slot: number;
}

// Characters that could move the hash slot (`{`, `}`), break the key layout or hide in logs.
const UNSAFE = /[{}\s\p{Cc}]/u;

/**
 * Builds the Redis keys of ledgers: the prefix, the Cluster hash tag, and the core's storage id of
 * the ledger (`ledgerIdOf`: scope, window and key, readable when short and plain, else `~` + a
 * SHA-256), the same id the memory store uses. A hostile key can neither pick a hash slot nor make
 * keys arbitrarily large.
 */
export class LedgerKeyBuilder {
  private readonly cache = new WeakMap<Budget, LedgerKeys>();

  constructor(
    readonly prefix: string,
    readonly mode: HashTagMode,
  ) {
    if (typeof prefix !== 'string' || prefix.length > 64 || UNSAFE.test(prefix)) {
      throw new TokencapConfigError(
        `Invalid prefix ${JSON.stringify(prefix)} of RedisLedgerStore: expected up to 64 characters without braces, ` +
          `whitespace or control characters (the store places the Cluster hash tag itself; see the hashTag option).`,
      );
    }
    if (mode !== 'per-budget' && mode !== 'single-slot' && typeof mode !== 'function') {
      throw new TokencapConfigError(
        `Invalid hashTag ${JSON.stringify(mode)} of RedisLedgerStore: expected 'per-budget', 'single-slot' or a function of the budget.`,
      );
    }
  }

  /** The keys of `budget`'s ledger, memoised per budget object. */
  keysOf(budget: Budget): LedgerKeys {
    let keys = this.cache.get(budget);
    if (!keys) {
      const id = ledgerIdOf(budget);
      const tag = this.tagOf(budget);
      const base = tag === undefined ? `${this.prefix}{${id}}` : `${this.prefix}{${tag}}:${id}`;
      keys = Object.freeze({
        ledger: `${base}:l`,
        reservations: `${base}:z`,
        marks: `${base}:m`,
        slot: clusterSlot(`${base}:l`),
      });
      this.cache.set(budget, keys);
    }
    return keys;
  }

  /**
   * Throws when the budgets' keys span hash slots, naming them, before anything is sent (Cluster
   * would refuse the script). Checked for tag functions on any server, so a layout that would fail
   * on Cluster fails the same way against a single Redis in development.
   */
  assertOneSlot(budgets: readonly Budget[]): void {
    if (budgets.length < 2) return;
    const first = this.keysOf(budgets[0]);
    for (let i = 1; i < budgets.length; i++) {
      const keys = this.keysOf(budgets[i]);
      if (keys.slot !== first.slot) {
        const list = budgets
          .map((b) => `${b.id} → ${this.keysOf(b).ledger} (slot ${this.keysOf(b).slot})`)
          .join(', ');
        throw new RedisConfigError(
          'cross-slot',
          `The budgets of one call must share a Redis Cluster hash slot, and these do not: ${list}. ` +
            `Make your hashTag function give them one tag (the tenant they belong to), or use hashTag: 'single-slot'.`,
        );
      }
    }
  }

  private tagOf(budget: Budget): string | undefined {
    if (this.mode === 'per-budget') return undefined;
    if (this.mode === 'single-slot') return 'all';
    let tag: string | undefined;
    try {
      tag = this.mode(budget);
    } catch (error) {
      // The application's function failed: a configuration error, never a Redis outage.
      throw new RedisConfigError(
        'invalid-input',
        `RedisLedgerStore's hashTag function threw for budget ${budget.id}: ${messageOf(error)}`,
      );
    }
    if (tag === undefined) return undefined;
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > 64 || UNSAFE.test(tag)) {
      throw new RedisConfigError(
        'invalid-input',
        `Invalid hash tag ${JSON.stringify(tag)} for budget ${budget.id} from RedisLedgerStore's hashTag function: ` +
          'expected 1 to 64 characters without braces, whitespace or control characters, or undefined.',
      );
    }
    return tag;
  }
}
