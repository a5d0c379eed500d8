// `tokencap/engine`: budgets without Nest. The ledger, its stores, budget frames, the model catalog
// and token counting; nothing here loads `@nestjs/*`, so scripts, workers and other frameworks can
// use it (a test installs it in a folder without Nest and imports it).

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
} from '../core/budget.js';
export { type BudgetFrame, currentFrame, runWithBudgets } from '../core/budget-context.js';
export type { BudgetWindow, FixedWindow } from '../core/budget-window.js';
export type { CalendarUnit, CalendarWindow } from '../core/calendar-window.js';
export { type Duration, parseDuration } from '../core/duration.js';
export type {
  BudgetUsage,
  CreditEvent,
  DegradedEvent,
  DimensionUsage,
  ExhaustedEvent,
  ForecastEvent,
  RefusedEvent,
  ResetEvent,
  SettledCall,
  StoreErrorEvent,
  ThresholdEvent,
  TokencapEvent,
  Usage,
  UsageDetails,
  UnwrittenSettlement,
  UsageEvent,
} from '../core/events.js';
export {
  Ledger,
  type LedgerOptions,
  type ReserveRequest,
  type StoreErrorMode,
} from '../core/ledger.js';
export type {
  ClaimInput,
  CommitInput,
  CommitOutcome,
  CreditInput,
  Crossing,
  ExtendInput,
  LedgerActivity,
  LedgerOpInput,
  LedgerSnapshot,
  LedgerState,
  LedgerStore,
  MaybePromise,
  ReleaseInput,
  ReserveInput,
  ReserveOutcome,
  ResetOutcome,
  UnknownReservationMode,
  UnwrittenUsage,
} from '../core/ledger-store.interface.js';
export { MemoryLedgerStore, type MemoryLedgerStoreOptions } from '../core/memory-ledger.store.js';
export { Reservation } from '../core/reservation.js';
export {
  BudgetExceededError,
  type BudgetExceededDetails,
  BudgetKeyMissingError,
  type BudgetKeyProblem,
  StoreUnavailableError,
  TokencapConfigError,
  TokencapError,
  TokencapRequestError,
  UnmeteredCallError,
  type UnmeteredCallReason,
} from '../errors.js';
// Types only (erased at runtime): the engine entry loads no @nestjs code.
export type {
  InternalServerErrorBody,
  TokencapRequestErrorBody,
} from '../nest/budget-error.response.js';

// The model catalog the client wrappers count, price and cap calls with.
export {
  ANTHROPIC_MODELS,
  bindModelCatalog,
  type ModelFacts,
  type ModelPrice,
  type ModelTable,
  type TokenRates,
  ModelCatalog,
  type ModelCatalogOptions,
  OPENAI_MODELS,
  PriceUnknownError,
} from '../models/index.js';
export type { MeteringOptions, OutsideBudget } from '../metering/metering-context.resolver.js';
export {
  type OpenAILike,
  wrapOpenAI,
  type WrapOpenAIOptions,
} from '../providers/openai/wrap-openai.js';

// Request shapes the counters read, and the counting cache's statistics.
export type * from '../counting/chat-request.types.js';
export type * from '../counting/responses-request.types.js';
export type { TextCountCacheLimits, TextCountCacheStats } from '../counting/text-count.cache.js';
export type { InputCount, RequestBody } from '../metering/provider-endpoint.interface.js';
export type { ChatCapParameter } from '../providers/openai/chat-completions.endpoint.js';

// Token counting: exact for OpenAI models (tiktoken's BPE via gpt-tokenizer), estimated for others.
export {
  type ChatMessage,
  type ChatTokenRequest,
  type ChatTool,
  countChatTokens,
  countResponsesInput,
  countTokens,
  defaultTokenCounter,
  type EncodingName,
  encodingForModel,
  estimateTokens,
  type ResponsesTokenRequest,
  TokenCounter,
  type TokenCounterOptions,
  type TokenEncoder,
  type TokenEncoderFactory,
  type TokenizerBackend,
} from '../counting/index.js';
