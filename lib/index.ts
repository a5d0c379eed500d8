// The public API of `tokencap`. Optional parts live behind subpaths: `tokencap/redis`, `tokencap/testing`.

export {
  type Amounts,
  type Budget,
  type BudgetDefinition,
  type BudgetLimit,
  type BudgetOptions,
  type Dimension,
  type Policy,
  DEFAULT_THRESHOLDS,
  defineBudget,
} from './core/budget.js';
export { type BudgetFrame, currentFrame, runWithBudgets } from './core/budget-context.js';
export { type Duration, parseDuration } from './core/duration.js';
export type {
  BudgetUsage,
  DegradedEvent,
  DimensionUsage,
  ExhaustedEvent,
  RefusedEvent,
  StoreErrorEvent,
  ThresholdEvent,
  TokencapEvent,
  UsageEvent,
} from './core/events.js';
export { Ledger, type LedgerOptions, type ReserveRequest, type StoreErrorMode } from './core/ledger.js';
export type {
  CommitInput,
  CommitOutcome,
  Crossing,
  LedgerSnapshot,
  LedgerStore,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
} from './core/ledger-store.interface.js';
export { MemoryLedgerStore, type MemoryLedgerStoreOptions } from './core/memory-ledger.store.js';
export { Reservation } from './core/reservation.js';
export {
  BudgetExceededError,
  type BudgetExceededDetails,
  BudgetKeyMissingError,
  StoreUnavailableError,
  TokencapConfigError,
  TokencapError,
} from './errors.js';
