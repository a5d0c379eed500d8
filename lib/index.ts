// The public API of `tokencap`: what a Nest app uses. The engine without Nest (Ledger, stores,
// runWithBudgets, the model catalog, counting internals) is `tokencap/engine`; optional parts live
// behind subpaths (`tokencap/redis`, `tokencap/anthropic`, `tokencap/testing`, …).

// NestJS integration. `Budget` is the decorator here; the engine's budget type of the same name is
// exported by `tokencap/engine`.
export { Budget } from './nest/budget.decorator.js';
export { SkipBudget } from './nest/skip-budget.decorator.js';
export {
  budgetErrorResponse,
  type BudgetExceededBody,
  type BudgetHttpError,
  type BudgetKeyMissingBody,
  type StoreUnavailableBody,
} from './nest/budget-error.response.js';
export { BudgetService, type BudgetSelector, type UsageAmounts } from './nest/budget.service.js';
export {
  BudgetGraphQLError,
  type BudgetWsException,
} from './nest/transports/transport-error.replies.js';
export type {
  MissingKeyMode,
  ScopeKey,
  ScopeResolver,
  TokencapModuleOptions,
} from './nest/tokencap-options.interface.js';
export { TokencapModule } from './nest/tokencap.module.js';
export type { TokencapModuleAsyncOptions } from './nest/tokencap.module-definition.js';

// Budgets, as `@Budget` and the module options declare them.
export type { BudgetLimit, BudgetOptions, Dimension, Policy } from './core/budget.js';

// Events, as `BudgetService.events$` emits them.
export type {
  BudgetUsage,
  DegradedEvent,
  ExhaustedEvent,
  ForecastEvent,
  RefusedEvent,
  StoreErrorEvent,
  ThresholdEvent,
  TokencapEvent,
  Usage,
  UsageEvent,
} from './core/events.js';

// Errors.
export {
  BudgetExceededError,
  type BudgetExceededDetails,
  BudgetKeyMissingError,
  StoreUnavailableError,
  TokencapConfigError,
  TokencapError,
} from './errors.js';
export { PriceUnknownError } from './models/index.js';

// The OpenAI client wrapper (Anthropic's is `tokencap/anthropic`) and prompt counting.
export type { MeteringOptions } from './metering/metering-context.resolver.js';
export { wrapOpenAI, type WrapOpenAIOptions } from './providers/openai/wrap-openai.js';
export { type ChatMessage, countChatTokens, countTokens } from './counting/index.js';
