// `tokencap/redis`: the Redis ledger store and event relay. Imported only by users who use Redis,
// so `ioredis` is never loaded otherwise (lib/index.ts must not import this file).

export type { HashTagFunction, HashTagMode } from './ledger-key.builder.js';
export {
  RedisEventRelay,
  type RedisEventRelayOptions,
  type RelayedEventType,
} from './redis-event.relay.js';
export type { LeaseOptions } from './lease/lease.options.js';
export { RedisLedgerStore } from './redis-ledger.store.js';
export type { RedisLedgerStoreOptions } from './redis-store.options.js';
export {
  RedisConfigError,
  RedisStoreError,
  type RedisStoreErrorReason,
} from './redis-store.error.js';
export type { RedisClient } from './script.runner.js';
