import type { Budget } from '../core/budget.js';
import { ledgerIdOf } from '../core/ledger-id.js';
import { TokencapConfigError } from '../errors.js';

/**
 * How keys are hash-tagged for Redis Cluster.
 * - `per-budget`: each ledger's keys share a slot of their own (`tokencap:{session:abc}:l`), so
 *   budgets spread over the cluster, but a call naming several budgets only runs if they land on
 *   one slot (Cluster refuses a script whose keys span slots).
 * - `single-slot`: every key shares one tag (`tokencap:{all}:session:abc:l`), so any set of
 *   budgets is reserved atomically on Cluster, at the cost of one shard carrying all ledgers.
 */
export type HashTagMode = 'per-budget' | 'single-slot';

/** The keys of one ledger: its hash, its reservation expiry index and its marks (sorted sets). */
export interface LedgerKeys {
  readonly ledger: string;
  readonly reservations: string;
  readonly marks: string;
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
    if (mode !== 'per-budget' && mode !== 'single-slot') {
      throw new TokencapConfigError(
        `Invalid hashTag ${JSON.stringify(mode)} of RedisLedgerStore: expected 'per-budget' or 'single-slot'.`,
      );
    }
  }

  /** The keys of `budget`'s ledger, memoised per budget object. */
  keysOf(budget: Budget): LedgerKeys {
    let keys = this.cache.get(budget);
    if (!keys) {
      const id = ledgerIdOf(budget);
      const base =
        this.mode === 'per-budget' ? `${this.prefix}{${id}}` : `${this.prefix}{all}:${id}`;
      keys = Object.freeze({ ledger: `${base}:l`, reservations: `${base}:z`, marks: `${base}:m` });
      this.cache.set(budget, keys);
    }
    return keys;
  }
}
