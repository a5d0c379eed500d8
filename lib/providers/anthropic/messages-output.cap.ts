import { positiveCap, record } from '../../metering/json.guards.js';
import type { OutputCap, RequestBody } from '../../metering/provider-endpoint.interface.js';

/** The smallest `thinking.budget_tokens` the API accepts. */
export const MIN_THINKING_BUDGET = 1024;

/**
 * `max_tokens` of the Messages API, kept valid for extended thinking. The API requires
 * `thinking.budget_tokens` >= 1024 and below `max_tokens`, so a request with thinking enabled needs
 * at least 1025 output tokens: a `hard-stop` budget with less left refuses it before anything is
 * sent. When the budget lowers `max_tokens`, a `budget_tokens` that no longer fits below it is
 * lowered to `max_tokens - 1` (never below 1024), so the request stays one the API accepts.
 */
export const messagesOutputCap: OutputCap = {
  requested(body) {
    // `max_tokens: 0` is valid (it only fills the prompt cache): nothing to cap.
    return body.max_tokens === 0 ? 0 : positiveCap(body.max_tokens);
  },
  minimum(body) {
    if (body.max_tokens === 0) return 0;
    return thinkingBudget(body) === undefined ? 1 : MIN_THINKING_BUDGET + 1;
  },
  choices: () => 1,
  withCap(body, cap) {
    const maxTokens = Math.min(positiveCap(body.max_tokens) ?? Infinity, cap);
    const copy: Record<string, unknown> = { ...body, max_tokens: maxTokens };
    const budget = thinkingBudget(body);
    if (budget !== undefined && budget >= maxTokens && maxTokens > MIN_THINKING_BUDGET) {
      copy.thinking = { ...record(body.thinking), budget_tokens: maxTokens - 1 };
    }
    return copy;
  },
};

/** The request's `thinking.budget_tokens` when extended thinking is enabled with a valid budget. */
function thinkingBudget(body: RequestBody): number | undefined {
  const thinking = record(body.thinking);
  if (thinking?.type !== 'enabled') return undefined;
  const budget = positiveCap(thinking.budget_tokens);
  // An invalid budget (below 1024, not a whole number) is the caller's own 400: sent as given.
  return budget !== undefined && budget >= MIN_THINKING_BUDGET ? budget : undefined;
}
