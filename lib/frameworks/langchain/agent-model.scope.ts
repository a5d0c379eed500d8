import { AsyncLocalStorage } from 'node:async_hooks';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { isMetered, meterChatModel, type MeterChatModelOptions } from './meter-chat-model.js';

// Symbol.for: two copies of Tokencap in one process patch the prototype once and share the scope.
const SCOPE = Symbol.for('tokencap.langchain.agentModelScope');

type Invoke = (this: BaseChatModel, ...args: unknown[]) => Promise<unknown>;
type Patched = Record<PropertyKey, unknown> & { invoke: Invoke };

/**
 * Runs `fn` (an agent's model call, through every later middleware) so that any chat model invoked
 * inside it is metered with `options` before it reaches its provider. A later middleware may hand
 * the agent's model node another model (a fallback, a cheaper model): that model is metered at the
 * innermost point, when it is invoked, so middleware order cannot open a hole in the budget.
 */
export function meterModelsInvokedIn<T>(options: MeterChatModelOptions, fn: () => T): T {
  return scope().run(options, fn);
}

function scope(): AsyncLocalStorage<MeterChatModelOptions> {
  const proto = BaseChatModel.prototype as unknown as Patched;
  const existing = proto[SCOPE] as AsyncLocalStorage<MeterChatModelOptions> | undefined;
  if (existing) return existing;
  const store = new AsyncLocalStorage<MeterChatModelOptions>();
  // Every chat model's invoke ends here (ChatOpenAI's own invoke calls super.invoke).
  const invoke = proto.invoke;
  Object.defineProperty(proto, 'invoke', {
    value: function (this: BaseChatModel, ...args: unknown[]) {
      const options = store.getStore();
      if (options && !isMetered(this)) meterChatModel(this, options);
      return invoke.apply(this, args);
    },
    configurable: true,
    writable: true,
  });
  Object.defineProperty(proto, SCOPE, { value: store });
  return store;
}
