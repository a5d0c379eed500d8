// `tokencap/langchain`: LangChain.js chat models and agents on the metering pipeline. Its own
// subpath, so apps that do not use LangChain (optional peer dependencies `@langchain/core` and
// `langchain`) never load this code.
export {
  type BudgetMiddlewareOptions,
  type BudgetStop,
  budgetMiddleware,
} from './budget.middleware.js';
export { meterChatModel, type MeterChatModelOptions } from './meter-chat-model.js';
