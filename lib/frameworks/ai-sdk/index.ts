// `tokencap/ai-sdk`: the Vercel AI SDK on the metering pipeline. Its own subpath, so apps that do
// not use `ai` (an optional peer dependency) never load this code.
export { budgetMiddleware, type BudgetMiddlewareOptions } from './budget.middleware.js';
export {
  budgetNearlySpent,
  type BudgetNearlySpentOptions,
} from './budget-nearly-spent.condition.js';
