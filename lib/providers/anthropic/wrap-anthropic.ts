import { TokencapConfigError } from '../../errors.js';
import {
  type MeteringOptions,
  meteringContextResolver,
  refusesOutsideBudget,
} from '../../metering/metering-context.resolver.js';
import { patchCreate, type PatchSettings } from '../sdk/create.patcher.js';
import { guardRawRequests } from '../sdk/raw-request.guard.js';
import type { CountTokensMethod } from './count-tokens.counter.js';
import { messagesEndpoint } from './messages.endpoint.js';

/**
 * How `wrapAnthropic` counts a prompt before the call. `'estimate'`: locally, with a conservative
 * estimator (Anthropic ships no tokenizer for current Claude models) that errs high, never low on
 * the measured corpus. `'api'`: exactly, with Anthropic's `messages.countTokens` (one extra round
 * trip, free); when that count fails, the call fails with its error and nothing is sent.
 */
export type AnthropicCounting = 'estimate' | 'api';

/** Options of {@link wrapAnthropic}: the options of every wrapper, and how prompts are counted. */
export interface WrapAnthropicOptions extends MeteringOptions {
  /**
   * How the prompt is counted before the call (see {@link AnthropicCounting} and
   * docs/anthropic.md for what a `hard-stop` budget guarantees under each).
   * @default 'estimate'
   */
  counting?: AnthropicCounting;
}

/**
 * What {@link wrapAnthropic} takes: a client of the shape of `@anthropic-ai/sdk`'s `Anthropic`.
 * A shape, not the class: a CommonJS project's `import Anthropic from '@anthropic-ai/sdk'` is the
 * SDK's CommonJS typing, a class TypeScript holds distinct (its `#private` members) from the
 * ES-module one.
 */
export interface AnthropicLike {
  /** The Messages API. */
  readonly messages: {
    /** Metered by the wrapper. */
    create(...args: never[]): unknown;
  };
}

// Symbol.for: two copies of Tokencap in one process still recognise each other's wrapping.
/** POST paths the Anthropic API bills for; only `messages` (and `beta.messages`) are metered. */
const BILLABLE = /^\/v1\/(messages|messages\/batches|complete)$/;
const WRAPPED = Symbol.for('tokencap.anthropic.wrapped');
const COUNTING: readonly AnthropicCounting[] = ['estimate', 'api'];

interface MessagesResource {
  create?: unknown;
  countTokens?: (params: Record<string, unknown>) => PromiseLike<unknown>;
}

/**
 * Meters an Anthropic client in place and returns it, with its type unchanged:
 * `messages.create` (plain and `stream: true`) and what is built on it (`messages.stream()`,
 * `messages.parse()`), and the same on `beta.messages`, reserve on the caller's budgets before the
 * request is sent, clamp `max_tokens` (and keep `thinking.budget_tokens` below it) under
 * `hard-stop`, cut streams at the budget, and commit Anthropic's usage (cache reads and 5-minute
 * and 1-hour cache writes each priced at their rate). `messages.countTokens` and
 * `messages.batches` are not metered. Calls outside a budget context pass straight through unless
 * `options.budgets` are set. Wrapping an already wrapped client changes nothing.
 * @throws TokencapConfigError when an option is invalid.
 * @example
 * const anthropic = wrapAnthropic(new Anthropic());
 * await runWithBudgets(ledger, [defineBudget({ scope: 'user', key: id, limit: 50_000 })], () =>
 *   anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages }),
 * );
 */
export function wrapAnthropic<Client extends AnthropicLike>(
  client: Client,
  options: WrapAnthropicOptions = {},
): Client {
  const { counting = 'estimate', ...metering } = options;
  if (!COUNTING.includes(counting)) {
    throw new TokencapConfigError(
      `Invalid counting ${JSON.stringify(counting)} of wrapAnthropic: expected 'estimate' or 'api'.`,
    );
  }
  const contextOf = meteringContextResolver(metering, 'wrapAnthropic');
  const refuseOutside = refusesOutsideBudget(metering, 'wrapAnthropic');
  const target = client as unknown as Record<PropertyKey, unknown>;
  if (target[WRAPPED]) {
    // Wrapping again must not change how the client is metered behind its first owner's back.
    if (Object.values(options).some((v) => v !== undefined)) {
      throw new TokencapConfigError(
        'wrapAnthropic: this client is already wrapped; options can only be given the first time it is wrapped.',
      );
    }
    return client;
  }
  const settings: PatchSettings = {
    contextOf,
    depth: { value: 0 },
    refuseOutside,
    where: 'wrapAnthropic',
  };
  const resources: [string, MessagesResource | undefined][] = [
    ['messages', target.messages as MessagesResource | undefined],
    ['beta.messages', (target.beta as { messages?: MessagesResource } | undefined)?.messages],
  ];
  for (const [name, resource] of resources) {
    const endpoint = messagesEndpoint(name, counting === 'api' ? counterOf(resource) : undefined);
    patchCreate(resource, endpoint, settings, client, WRAPPED);
  }
  // Every other billable request (client.post('/v1/messages'), message batches, the legacy
  // completions) is refused inside a budget rather than sent unmetered.
  guardRawRequests(
    client,
    settings.depth,
    (method, path) => method === 'post' && BILLABLE.test(path),
    () => (contextOf() ? 'unmetered-endpoint' : refuseOutside ? 'no-budget' : undefined),
    'wrapAnthropic',
    WRAPPED,
  );

  // `withOptions()` builds a new client with new resources: meter it the same way.
  const withOptions = target.withOptions;
  if (typeof withOptions === 'function') {
    Object.defineProperty(client, 'withOptions', {
      value: function (this: unknown, ...args: unknown[]) {
        return wrapAnthropic(withOptions.apply(this, args) as Client, options);
      },
      configurable: true,
      writable: true,
    });
  }
  Object.defineProperty(client, WRAPPED, { value: true });
  return client;
}

/** The resource's own `countTokens`, called on it; a resource without one cannot count. */
function counterOf(resource: MessagesResource | undefined): CountTokensMethod {
  return (params) => {
    if (typeof resource?.countTokens !== 'function') {
      return Promise.reject(
        new TokencapConfigError(
          "wrapAnthropic: counting: 'api' needs messages.countTokens, which this client does not have.",
        ),
      );
    }
    return resource.countTokens(params);
  };
}
