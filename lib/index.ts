// The public API of `tokencap`. Optional parts live behind subpaths: `tokencap/redis`, `tokencap/testing`.

export {
  type Amounts,
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
export {
  Ledger,
  type LedgerOptions,
  type ReserveRequest,
  type StoreErrorMode,
} from './core/ledger.js';
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
  type BudgetKeyProblem,
  StoreUnavailableError,
  TokencapConfigError,
  TokencapError,
  TokencapRequestError,
  UnmeteredCallError,
  type UnmeteredCallReason,
} from './errors.js';

// NestJS integration. `Budget` is both the decorator and the engine's budget type (exported here
// rather than from core/budget.js, since one name cannot be exported twice).
export { Budget } from './nest/budget.decorator.js';
export {
  budgetErrorResponse,
  type BudgetExceededBody,
  type BudgetHttpError,
  type BudgetKeyMissingBody,
  type StoreUnavailableBody,
  type TokencapRequestErrorBody,
} from './nest/budget-exception.filter.js';
export { BudgetService, type UsageAmounts } from './nest/budget.service.js';
export type {
  MissingKeyMode,
  ScopeKey,
  ScopeResolver,
  TokencapModuleOptions,
} from './nest/tokencap-options.interface.js';
export { BUILT_IN_SCOPES, type BuiltInScope } from './nest/tokencap-options.validator.js';
export { TokencapModule } from './nest/tokencap.module.js';
export type { TokencapModuleAsyncOptions } from './nest/tokencap.module-definition.js';

// Client wrappers, and the model catalog they count, price and cap calls with.
export type { Usage, UsageDetails } from './core/events.js';
export {
  ANTHROPIC_MODELS,
  bindModelCatalog,
  type ModelFacts,
  type ModelPrice,
  ModelCatalog,
  type ModelCatalogOptions,
  OPENAI_MODELS,
  PriceUnknownError,
} from './models/index.js';
export type { MeteringOptions, OutsideBudget } from './metering/metering-context.resolver.js';
export { wrapOpenAI, type WrapOpenAIOptions } from './providers/openai/wrap-openai.js';

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
} from './counting/index.js';
