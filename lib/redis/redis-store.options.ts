import type { Redis } from 'ioredis';
import { type Duration, parseDuration } from '../core/duration.js';
import { TokencapConfigError } from '../errors.js';
import type { HashTagMode } from './ledger-key.builder.js';
import type { LeaseOptions } from './lease/lease.options.js';
import type { RedisClient } from './script.runner.js';

/** Options of {@link RedisLedgerStore}. Give `client` or `url`. */
export interface RedisLedgerStoreOptions {
  /**
   * An ioredis `Redis` (single node or Sentinel) or `Cluster` client. It stays yours: the store
   * never closes it. Use `lazyConnect: false` (the default) so the first call does not wait for a
   * connection.
   */
  client?: RedisClient;
  /** A Redis URL (`redis://host:6379/0`, `rediss://…`); the store creates that client and closes it in `close()`. */
  url?: string;
  /**
   * Prepended to every key. No braces: the store places the Cluster hash tag itself.
   * @default 'tokencap:'
   */
  prefix?: string;
  /**
   * How long one store operation may take before it fails (and the Ledger applies `onStoreError`).
   * Enforced by the store, whatever the client's own options.
   * @default 500
   */
  commandTimeout?: Duration;
  /**
   * Hash tags for Redis Cluster. `per-budget` spreads budgets over slots but can only run calls
   * whose budgets share a slot; `single-slot` puts every ledger in one slot so any set of budgets
   * is reserved atomically; a function picks each budget's tag (say its tenant), so one tenant's
   * budgets are atomic together and tenants spread over the shards. See docs/scaling.md.
   * @default 'single-slot' for a `Cluster` client, 'per-budget' otherwise
   */
  hashTag?: HashTagMode;
  /**
   * Ledgers of budgets with neither `ttl` nor `window` are dropped after being idle this long, so
   * Redis memory stays bounded; `false` keeps them forever (they then have no TTL).
   * @default '30d'
   */
  idleTtl?: Duration | false;
  /**
   * Budgets spent through leases: the replica reserves a chunk in Redis, spends it in memory and
   * returns what it did not use, so a budget every call touches (`global`) is no hot key. See
   * docs/scaling.md.
   */
  lease?: LeaseOptions;
}

const STORE_OPTION_KEYS = new Set([
  'client',
  'url',
  'prefix',
  'commandTimeout',
  'hashTag',
  'idleTtl',
  'lease',
]);

/** Checks {@link RedisLedgerStoreOptions}, naming what is wrong; returns what the store needs. */
export function checkStoreOptions(options: RedisLedgerStoreOptions): {
  client: RedisClient | undefined;
  url: string | undefined;
  timeoutMs: number;
  idleTtlMs: number;
} {
  if (options === null || typeof options !== 'object') {
    throw new TokencapConfigError('RedisLedgerStore needs options with a `client` or a `url`.');
  }
  const { client, url } = options;
  if ((client === undefined) === (url === undefined)) {
    throw new TokencapConfigError(
      'RedisLedgerStore needs exactly one of `client` (an ioredis client) or `url`.',
    );
  }
  if (
    client !== undefined &&
    (typeof client !== 'object' || typeof client.evalsha !== 'function')
  ) {
    throw new TokencapConfigError(
      'Invalid client of RedisLedgerStore: expected an ioredis Redis or Cluster client.',
    );
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new TokencapConfigError(
      `Invalid url ${JSON.stringify(url)} of RedisLedgerStore: expected redis:// or rediss://.`,
    );
  }
  const timeoutMs = parseDuration(
    options.commandTimeout ?? 500,
    'commandTimeout of RedisLedgerStore',
  );
  const idleTtlMs =
    options.idleTtl === false
      ? 0
      : parseDuration(options.idleTtl ?? '30d', 'idleTtl of RedisLedgerStore');
  if (Object.prototype.hasOwnProperty.call(options, 'maxKeyLength')) {
    throw new TokencapConfigError(
      'The maxKeyLength option of RedisLedgerStore is gone: both stores now name a ledger by one rule ' +
        '(keys over 128 plain ASCII characters, or holding anything else, are stored as a SHA-256). Remove it.',
    );
  }
  const unknown = Object.keys(options).filter((key) => !STORE_OPTION_KEYS.has(key));
  if (unknown.length > 0) {
    throw new TokencapConfigError(
      `Unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')} of RedisLedgerStore: ` +
        `expected ${[...STORE_OPTION_KEYS].join(', ')}.`,
    );
  }
  return { client, url, timeoutMs, idleTtlMs };
}

/**
 * Closes a client the store made. QUIT waits for Redis; one that is down or unreachable would
 * keep it queued (ioredis resends it on reconnect) and close() pending for good: it gets a
 * command timeout, then the client is cut.
 */
export async function closeOwnedClient(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([client.quit(), timedOut]);
    if (outcome === 'timeout') client.disconnect();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
