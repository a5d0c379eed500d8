import { TokencapConfigError } from '../../errors.js';
import {
  type MeteringOptions,
  meteringContextResolver,
  refusesOutsideBudget,
} from '../../metering/metering-context.resolver.js';
import { patchCreate, type PatchSettings } from '../sdk/create.patcher.js';
import { guardRawRequests } from '../sdk/raw-request.guard.js';
import { type ChatCapParameter, chatCompletionsEndpoint } from './chat-completions.endpoint.js';
import { embeddingsEndpoint } from './embeddings.endpoint.js';
import { responsesEndpoint } from './responses.endpoint.js';

/** Options of {@link wrapOpenAI}: the options of every wrapper, and the chat cap parameter. */
export interface WrapOpenAIOptions extends MeteringOptions {
  /**
   * The chat parameter Tokencap sets when it caps a request that had none. A request that names
   * `max_tokens` or `max_completion_tokens` keeps its own. Use `'max_tokens'` for servers that only
   * know the older parameter. Models the catalog lists as reasoning models (o-series, gpt-5) refuse
   * `max_tokens`: they are sent `max_completion_tokens` whatever this option says.
   * @default 'max_completion_tokens'
   */
  chatOutputCapParameter?: ChatCapParameter;
}

/**
 * What {@link wrapOpenAI} takes: a client of the shape of `openai`'s `OpenAI` (or `AzureOpenAI`).
 * A shape, not the class: a CommonJS project's `import OpenAI from 'openai'` is the SDK's CommonJS
 * typing, a class TypeScript holds distinct (its `#private` members) from the ES-module one.
 */
export interface OpenAILike {
  /** Chat Completions. */
  readonly chat: {
    readonly completions: {
      /** Metered by the wrapper. */
      create(...args: never[]): unknown;
    };
  };
  /** The Responses API. */
  readonly responses: {
    /** Metered by the wrapper. */
    create(...args: never[]): unknown;
  };
  /** Embeddings. */
  readonly embeddings: {
    /** Metered by the wrapper. */
    create(...args: never[]): unknown;
  };
}

// Symbol.for: two copies of Tokencap in one process still recognise each other's wrapping.
/**
 * POST paths the OpenAI API bills for; only the ones patched above are metered. Eval runs and
 * grader runs call a model (the sampled model, a model grader) and are billed for its tokens.
 */
const BILLABLE =
  /^\/(chat\/completions|completions|responses|responses\/compact|embeddings|images\/(generations|edits|variations)|audio\/(speech|transcriptions|translations)|batches|fine_tuning\/jobs|fine_tuning\/alpha\/graders\/run|evals\/[^/]+\/runs|threads\/runs|threads\/[^/]+\/runs(\/[^/]+\/submit_tool_outputs)?|realtime\/.*|videos(\/.*)?)$/;
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
export function wrapOpenAI<Client extends OpenAILike>(
  client: Client,
  options: WrapOpenAIOptions = {},
): Client {
  const contextOf = meteringContextResolver(options, 'wrapOpenAI', ['chatOutputCapParameter']);
  const refuseOutside = refusesOutsideBudget(options, 'wrapOpenAI');
  const capParameter = options.chatOutputCapParameter ?? 'max_completion_tokens';
  if (capParameter !== 'max_completion_tokens' && capParameter !== 'max_tokens') {
    throw new TokencapConfigError(
      `Invalid chatOutputCapParameter ${JSON.stringify(capParameter)} of wrapOpenAI: expected 'max_completion_tokens' or 'max_tokens'.`,
    );
  }
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
  const chat = (client as { chat?: { completions?: unknown } }).chat;
  const chatEndpoint = chatCompletionsEndpoint(capParameter);
  const settings: PatchSettings = {
    contextOf,
    depth: { value: 0 },
    refuseOutside,
    where: 'wrapOpenAI',
  };
  const beta = target.beta as { responses?: unknown } | undefined;
  patchCreate(chat?.completions, chatEndpoint, settings, client, WRAPPED);
  patchCreate(target.responses, responsesEndpoint, settings, client, WRAPPED);
  patchCreate(beta?.responses, responsesEndpoint, settings, client, WRAPPED);
  patchCreate(target.embeddings, embeddingsEndpoint, settings, client, WRAPPED);
  // Every other billable request (client.post('/chat/completions'), getAPIList/requestAPIList,
  // completions, images, audio, batches, Assistants runs, eval and grader runs) is refused inside
  // a budget rather than sent unmetered.
  guardRawRequests(
    client,
    settings.depth,
    (method, path) => method === 'post' && BILLABLE.test(path),
    () => (contextOf() ? 'unmetered-endpoint' : refuseOutside ? 'no-budget' : undefined),
    'wrapOpenAI',
    WRAPPED,
  );

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
