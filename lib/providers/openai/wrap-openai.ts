import type OpenAI from 'openai';
import type { Budget } from '../../core/budget.js';
import { type BudgetFrame, currentFrame } from '../../core/budget-context.js';
import type { Ledger } from '../../core/ledger.js';
import { assertBudgets } from '../../core/ledger-input.guard.js';
import { quoteClientValue, TokencapConfigError } from '../../errors.js';
import type { MeteringContext } from '../../metering/call.planner.js';
import { modelCatalogFor } from '../../models/catalog.binding.js';
import type { ModelCatalog } from '../../models/model.catalog.js';
import { validateOutputLimit } from '../../models/model-facts.validator.js';
import { patchCreate } from '../sdk/create.patcher.js';
import { type ChatCapParameter, chatCompletionsEndpoint } from './chat-completions.endpoint.js';
import { embeddingsEndpoint } from './embeddings.endpoint.js';
import { responsesEndpoint } from './responses.endpoint.js';

/** Options of {@link wrapOpenAI}. */
export interface WrapOpenAIOptions {
  /**
   * The ledger that charges {@link budgets} for calls made outside any budget context. Calls inside
   * a context (`runWithBudgets`, the Nest interceptor) are charged to that context's budgets only.
   */
  ledger?: Ledger;
  /**
   * Budgets charged (on {@link ledger}) for calls made outside any budget context.
   * @default [] (such calls pass through unmetered)
   */
  budgets?: readonly Budget[];
  /**
   * Output tokens reserved for a call that sets no output cap when no `hard-stop` budget limits
   * it (never more than the model's own limit; under `hard-stop` the call reserves, and is capped
   * at, what the budget has left).
   * @default 4096
   */
  defaultMaxOutputTokens?: number;
  /**
   * The chat parameter Tokencap sets when it caps a request that had none. A request that names
   * `max_tokens` or `max_completion_tokens` keeps its own. Use `'max_tokens'` for servers that only
   * know the older parameter.
   * @default 'max_completion_tokens'
   */
  chatOutputCapParameter?: ChatCapParameter;
  /**
   * Output limits (tokens) of models missing from the model catalog, by name or name prefix, over
   * the catalog of the ledger that charges the call. An uncapped call is never capped above its
   * model's limit; a model with none is capped at what its budget has left.
   * @default {}
   */
  modelOutputLimits?: Readonly<Record<string, number>>;
}

// Symbol.for: two copies of Tokencap in one process still recognise each other's wrapping.
const WRAPPED = Symbol.for('tokencap.openai.wrapped');

/**
 * Meters an OpenAI client in place and returns it, with its type unchanged:
 * `chat.completions.create` (plain and streamed), `responses.create` (plain and streamed) and
 * `embeddings.create` reserve on the caller's budgets before the request is sent, cap output under
 * `hard-stop`, and commit the provider's usage. Helpers built on them (`chat.completions.stream()`,
 * `.parse()`, `.runTools()`, `responses.stream()`, `responses.parse()`) are metered once per request
 * they send. Calls outside a budget context pass straight through unless `options.budgets` are set.
 * Wrapping an already wrapped client changes nothing (the first options stay in force).
 * @throws TokencapConfigError when an option is invalid.
 * @example
 * const openai = wrapOpenAI(new OpenAI());
 * await runWithBudgets(ledger, [defineBudget({ scope: 'user', key: id, limit: 50_000 })], () =>
 *   openai.chat.completions.create({ model: 'gpt-4o-mini', messages }),
 * );
 */
export function wrapOpenAI<Client extends OpenAI>(
  client: Client,
  options: WrapOpenAIOptions = {},
): Client {
  const resolved = resolveOptions(options);
  const target = client as unknown as Record<PropertyKey, unknown>;
  if (target[WRAPPED]) {
    // Wrapping again must not change how the client is metered behind its first owner's back.
    if (Object.values(options).some((v) => v !== undefined)) {
      throw new TokencapConfigError(
        'wrapOpenAI: this client is already wrapped; options can only be given the first time it is wrapped.',
      );
    }
    return client;
  }
  const contextOf = () => resolved.contextOf(currentFrame() ?? resolved.defaultFrame);
  const chat = (client as { chat?: { completions?: unknown } }).chat;
  const chatEndpoint = chatCompletionsEndpoint(resolved.chatOutputCapParameter);
  patchCreate(chat?.completions, chatEndpoint, contextOf, client, WRAPPED);
  patchCreate(target.responses, responsesEndpoint, contextOf, client, WRAPPED);
  patchCreate(target.embeddings, embeddingsEndpoint, contextOf, client, WRAPPED);

  // `withOptions()` builds a new client with new resources: meter it the same way.
  const withOptions = target.withOptions;
  if (typeof withOptions === 'function') {
    Object.defineProperty(client, 'withOptions', {
      value: function (this: unknown, ...args: unknown[]) {
        return wrapOpenAI(withOptions.apply(this, args) as Client, options);
      },
      configurable: true,
      writable: true,
    });
  }
  Object.defineProperty(client, WRAPPED, { value: true });
  return client;
}

interface ResolvedOptions {
  defaultFrame: BudgetFrame | undefined;
  chatOutputCapParameter: ChatCapParameter;
  contextOf(frame: BudgetFrame | undefined): MeteringContext | undefined;
}

function resolveOptions(options: WrapOpenAIOptions): ResolvedOptions {
  const { ledger, budgets = [], defaultMaxOutputTokens = 4096 } = options;
  const chatOutputCapParameter = options.chatOutputCapParameter ?? 'max_completion_tokens';
  assertBudgets(budgets, 'wrapOpenAI option budgets');
  // Duck-typed rather than instanceof, so a Ledger from another copy of the package still works.
  if (ledger !== undefined && typeof (ledger as Partial<Ledger> | null)?.reserve !== 'function') {
    throw new TokencapConfigError(
      'Invalid ledger option of wrapOpenAI: expected a Ledger (new Ledger() or BudgetService.ledger).',
    );
  }
  if (budgets.length > 0 && !ledger) {
    throw new TokencapConfigError(
      `The budgets option of wrapOpenAI needs a ledger option to charge them.`,
    );
  }
  if (!Number.isSafeInteger(defaultMaxOutputTokens) || defaultMaxOutputTokens < 1) {
    throw new TokencapConfigError(
      `Invalid defaultMaxOutputTokens ${JSON.stringify(defaultMaxOutputTokens)} of wrapOpenAI: expected a positive whole number.`,
    );
  }
  if (
    chatOutputCapParameter !== 'max_completion_tokens' &&
    chatOutputCapParameter !== 'max_tokens'
  ) {
    throw new TokencapConfigError(
      `Invalid chatOutputCapParameter ${JSON.stringify(chatOutputCapParameter)} of wrapOpenAI: expected 'max_completion_tokens' or 'max_tokens'.`,
    );
  }
  const outputLimits = options.modelOutputLimits ?? {};
  for (const [model, limit] of Object.entries(outputLimits)) {
    validateOutputLimit(limit, `modelOutputLimits[${quoteClientValue(model)}] of wrapOpenAI`);
  }
  const extend = Object.keys(outputLimits).length > 0;
  // The limits extend whichever catalog the charging ledger has; built once per catalog.
  const extended = new WeakMap<ModelCatalog, ModelCatalog>();
  const catalogOf = (ledger: Ledger) => {
    const base = modelCatalogFor(ledger);
    if (!extend) return base;
    let catalog = extended.get(base);
    if (!catalog) extended.set(base, (catalog = base.extend({ outputLimits })));
    return catalog;
  };
  return {
    defaultFrame: ledger && budgets.length > 0 ? { ledger, budgets } : undefined,
    chatOutputCapParameter,
    contextOf: (frame) =>
      frame && frame.budgets.length > 0
        ? { frame, catalog: catalogOf(frame.ledger), defaultMaxOutputTokens }
        : undefined,
  };
}
