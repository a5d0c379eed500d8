import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage } from '@langchain/core/messages';
import { createMiddleware } from 'langchain';
import { BudgetExceededError, TokencapConfigError } from '../../errors.js';
import { meteringContextResolver } from '../../metering/metering-context.resolver.js';
import { meterModelsInvokedIn } from './agent-model.scope.js';
import { isMetered, meterChatModel, type MeterChatModelOptions } from './meter-chat-model.js';

/** Options of {@link budgetMiddleware}: those of {@link meterChatModel}, and what a refusal does. */
export interface BudgetMiddlewareOptions extends MeterChatModelOptions {
  /**
   * What happens when a budget refuses a model call (or cuts its stream): `'end'` ends the run
   * cleanly, with a last AIMessage (no tool calls) that names the budget, its refusal kept in
   * `response_metadata.tokencap`; `'throw'` rejects the run with the refusal: LangChain wraps an error thrown in a
   * middleware in its `MiddlewareError`, whose `cause` is the `BudgetExceededError`.
   * @default 'end'
   */
  onExceeded?: 'end' | 'throw';
}

/** What a run ended by a budget carries in its last message's `response_metadata.tokencap`. */
export interface BudgetStop {
  readonly refused: Pick<
    BudgetExceededError,
    'scope' | 'key' | 'dimension' | 'limit' | 'used' | 'reserved' | 'requested'
  >;
}

/**
 * Middleware for LangChain's `createAgent`: meters every model call of the agent (the agent's chat
 * model is metered in place, as {@link meterChatModel} does, the first time it is called) on the
 * caller's budgets (`@Budget`, `runWithBudgets`, or `options.budgets`), and ends the run when a
 * budget refuses a call, before the provider is reached.
 * @throws TokencapConfigError when an option is invalid, or (on the first model call) when the
 * agent's model is not a chat model instance.
 * @example
 * const agent = createAgent({ model: new ChatOpenAI({ model: 'gpt-4o-mini' }), tools: [search],
 *   middleware: [budgetMiddleware()] });
 * await runWithBudgets(ledger, [defineBudget({ scope: 'task', key: 'run-1', limit: 20_000 })], () =>
 *   agent.invoke({ messages: [{ role: 'user', content: 'Research our costs' }] }),
 * );
 */
export function budgetMiddleware(options: BudgetMiddlewareOptions = {}) {
  const { onExceeded = 'end', ...metering } = options;
  if (onExceeded !== 'end' && onExceeded !== 'throw') {
    throw new TokencapConfigError(
      `Invalid onExceeded ${JSON.stringify(onExceeded)} of budgetMiddleware: expected 'end' or 'throw'.`,
    );
  }
  // Fail at construction on bad metering options, not on the agent's first call.
  meteringContextResolver(metering, 'budgetMiddleware', ['maxTokensField']);
  return createMiddleware({
    name: 'TokencapBudget',
    wrapModelCall: async (request, handler) => {
      const model: unknown = request.model;
      if (!(model instanceof BaseChatModel)) {
        throw new TokencapConfigError(
          'budgetMiddleware: the agent model must be a LangChain chat model instance ' +
            '(new ChatOpenAI(...), new ChatAnthropic(...)), not a model name string.',
        );
      }
      // A model metered already (by the app, or by another agent's middleware) keeps its metering.
      if (!isMetered(model)) meterChatModel(model, metering);
      try {
        // A later middleware may swap the model (modelFallbackMiddleware, dynamic selection):
        // whatever model the agent finally invokes is metered too.
        return await meterModelsInvokedIn(metering, () => handler(request));
      } catch (error) {
        const refusal = budgetErrorIn(error);
        if (refusal && onExceeded === 'end') return stopMessage(refusal);
        // Unwrapped from inner middleware, so the run's error has the refusal as its direct cause.
        throw refusal ?? error;
      }
    },
  });
}

/** The refusal behind `error`: LangChain wraps what inner middleware throws in a `MiddlewareError`. */
function budgetErrorIn(error: unknown): BudgetExceededError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof BudgetExceededError) return e;
  }
  return undefined;
}

function stopMessage(error: BudgetExceededError): AIMessage {
  const { scope, key, dimension, limit, used, reserved, requested } = error;
  const stop: BudgetStop = { refused: { scope, key, dimension, limit, used, reserved, requested } };
  return new AIMessage({
    content: `Stopped by the "${scope}" budget: ${error.message}`,
    response_metadata: { tokencap: stop },
  });
}
