import { createHash } from 'node:crypto';
import type { Budget } from '../core/budget.js';
import { TokencapConfigError } from '../errors.js';

/**
 * How keys are hash-tagged for Redis Cluster.
 * - `per-budget`: each budget's keys share a slot of their own (`tokencap:{session:abc}:l`), so
 *   budgets spread over the cluster, but a call naming several budgets only runs if they land on
 *   one slot (Cluster refuses a script whose keys span slots).
 * - `single-slot`: every key shares one tag (`tokencap:{all}:session:abc:l`), so any set of
 *   budgets is reserved atomically on Cluster, at the cost of one shard carrying all ledgers.
 */
export type HashTagMode = 'per-budget' | 'single-slot';

/** The two keys of one budget: its ledger hash and its reservation expiry index (a sorted set). */
export interface LedgerKeys {
  readonly ledger: string;
  readonly reservations: string;
}

// Characters that could move the hash slot (`{`, `}`), break the key layout or hide in logs.
const UNSAFE = /[{}\s\p{Cc}]/u;

/**
 * Builds the Redis keys of budgets. User-supplied budget keys longer than `maxKeyBytes`, or
 * holding braces, whitespace or control characters, are replaced by `~` and their SHA-256, so a
 * hostile id can neither pick a hash slot nor make keys arbitrarily large.
 */
export class LedgerKeyBuilder {
  private readonly cache = new WeakMap<Budget, LedgerKeys>();

  constructor(
    readonly prefix: string,
    readonly mode: HashTagMode,
    readonly maxKeyBytes: number,
  ) {
    if (
      typeof prefix !== 'string' ||
      prefix.length > 64 ||
      /[{}]/.test(prefix) ||
      UNSAFE.test(prefix)
    ) {
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
    if (!Number.isSafeInteger(maxKeyBytes) || maxKeyBytes < 16 || maxKeyBytes > 1024) {
      throw new TokencapConfigError(
        `Invalid maxKeyLength ${JSON.stringify(maxKeyBytes)} of RedisLedgerStore: expected a whole number of bytes from 16 to 1024.`,
      );
    }
  }

  /** The keys of `budget`, memoised per budget object. */
  keysOf(budget: Budget): LedgerKeys {
    let keys = this.cache.get(budget);
    if (!keys) {
      const id = `${this.safeKey(budget.scope)}:${this.safeKey(budget.key)}`;
      const base =
        this.mode === 'per-budget' ? `${this.prefix}{${id}}` : `${this.prefix}{all}:${id}`;
      keys = { ledger: `${base}:l`, reservations: `${base}:z` };
      this.cache.set(budget, keys);
    }
    return keys;
  }

  /** The budget key as written in Redis: itself when short and plain, else `~` + its SHA-256. */
  safeKey(key: string): string {
    if (Buffer.byteLength(key) <= this.maxKeyBytes && !UNSAFE.test(key) && !key.startsWith('~'))
      return key;
    return `~${createHash('sha256').update(key).digest('base64url')}`;
  }
}
