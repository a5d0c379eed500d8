import { CLAUDE_MODELS, type ClaudeModelFacts } from './claude-model.catalog.js';
import type { ClaudeTokenizer } from './claude-token.counter.js';

/** Per-model settings of {@link FakeAnthropicOptions.models}; each field overrides the server-wide one. */
export interface FakeClaudeModelOptions {
  /** Largest `max_tokens` accepted. Catalog value, else 128,000. */
  maxOutputTokens?: number;
  /** Input plus output the model holds. Catalog value, else 200,000. */
  contextWindow?: number;
  /** Shortest prefix a cache breakpoint caches. Catalog value, else 1,024. */
  minCacheableTokens?: number;
  /** Counting rules (`'claude-3'` or `'claude-4.7'`). Catalog value, else `'claude-3'`. */
  tokenizer?: ClaudeTokenizer;
  /** Visible reply length in tokens for this model. */
  replyTokens?: number;
  /** A fixed reply text for this model instead of generated prose. */
  reply?: string;
  /** Thinking tokens this model spends when thinking is on. */
  thinkingTokens?: number;
}

/** Options of {@link startFakeAnthropic}; every field is optional. */
export interface FakeAnthropicOptions {
  /** Port to listen on; `0` lets the OS pick a free one. @default 0 */
  port?: number;
  /** Interface to bind, loopback so the fake is never reachable from outside. @default '127.0.0.1' */
  host?: string;
  /**
   * Visible reply length in tokens (the fake's count), before `max_tokens` and the
   * `x-fake-reply-tokens` header. @default 200
   */
  replyTokens?: number;
  /** A fixed reply text instead of generated prose; `max_tokens` still cuts it. */
  reply?: string;
  /**
   * Thinking tokens spent before the reply when the request turns thinking on (`enabled`, capped by
   * its `budget_tokens`, or `adaptive`), unless the `x-fake-thinking-tokens` header says otherwise.
   * Billed as output tokens and counted against `max_tokens`. @default 256
   */
  thinkingTokens?: number;
  /**
   * When the reply calls a tool: `'first-turn'` calls the first custom tool whenever tools are
   * offered, `tool_choice` is not `none` and the last user turn is not a tool result (so an agent
   * loop ends after one round), and always when `tool_choice` forces one; `'forced-only'` calls a
   * tool only when `tool_choice` is `any` or `tool`. @default 'first-turn'
   */
  toolCalls?: 'first-turn' | 'forced-only';
  /** Adds models or overrides catalog facts and reply settings per model. */
  models?: Readonly<Record<string, FakeClaudeModelOptions>>;
  /** Answers models missing from the catalog and `models` instead of a 404. @default false */
  acceptUnknownModels?: boolean;
  /** Delay before the first byte of every response. @default 0 */
  latencyMs?: number;
  /** Tokens carried by each streamed delta (whole words, so a delta may carry one more). @default 1 */
  tokensPerChunk?: number;
  /** Delay between streamed deltas. @default 0 */
  chunkDelayMs?: number;
  /** When set, requests must carry it as `x-api-key` (or a bearer token), else 401. */
  apiKey?: string;
  /** Simulates prompt caching driven by `cache_control` breakpoints. @default true */
  promptCaching?: boolean;
  /**
   * What a response the client leaves early (abort, timeout, a `cut-stream` or `stream-error`
   * fault) is billed: `'generated'` bills the input and the output already sent (nothing when the
   * response had not started); `'full'` bills the whole planned reply of every request that passed
   * validation and drew no error fault, as a provider that keeps generating would. @default 'generated'
   */
  abortBilling?: 'generated' | 'full';
  /** Keeps every request in `server.requests`; benchmarks turn it off. @default true */
  recordRequests?: boolean;
  /** Keeps connections open between requests; off closes each after its response. @default true */
  keepAlive?: boolean;
  /** Clock in epoch milliseconds; drives the prompt cache's 5-minute and 1-hour lifetimes. @default Date.now */
  now?: () => number;
}

/** Everything a request needs to know about its model, defaults filled in. */
export interface ResolvedModel extends ClaudeModelFacts {
  replyTokens: number;
  reply: string | undefined;
  thinkingTokens: number;
}

/** {@link FakeAnthropicOptions} with defaults filled in and models resolved. */
export interface ResolvedFakeAnthropicOptions {
  port: number;
  host: string;
  toolCalls: 'first-turn' | 'forced-only';
  latencyMs: number;
  tokensPerChunk: number;
  chunkDelayMs: number;
  apiKey: string | undefined;
  promptCaching: boolean;
  abortBilling: 'generated' | 'full';
  recordRequests: boolean;
  keepAlive: boolean;
  now: () => number;
  /** The model's settings, or `undefined` when the fake answers it with a 404. */
  model(name: string): ResolvedModel | undefined;
}

const WHERE = 'startFakeAnthropic';
const UNKNOWN_MODEL_FACTS: ClaudeModelFacts = {
  maxOutputTokens: 128_000,
  contextWindow: 200_000,
  minCacheableTokens: 1024,
  tokenizer: 'claude-3',
};
const OPTION_KEYS = new Set<string>([
  'port',
  'host',
  'replyTokens',
  'reply',
  'thinkingTokens',
  'toolCalls',
  'models',
  'acceptUnknownModels',
  'latencyMs',
  'tokensPerChunk',
  'chunkDelayMs',
  'apiKey',
  'promptCaching',
  'abortBilling',
  'recordRequests',
  'keepAlive',
  'now',
] satisfies (keyof FakeAnthropicOptions)[]);
const MODEL_KEYS = new Set<string>([
  'maxOutputTokens',
  'contextWindow',
  'minCacheableTokens',
  'tokenizer',
  'replyTokens',
  'reply',
  'thinkingTokens',
] satisfies (keyof FakeClaudeModelOptions)[]);

/**
 * Fills in defaults and rejects anything that would make the fake silently misbehave: unknown
 * keys (a typo would otherwise be ignored), wrong types, out-of-range numbers, and model names
 * that collide with `Object.prototype` (`__proto__`, `constructor`, ...).
 * @throws TypeError for an unknown key or a wrong type, RangeError for a value out of range; the
 * message names the option and quotes the bad value.
 */
export function resolveFakeAnthropicOptions(
  options: FakeAnthropicOptions = {},
): ResolvedFakeAnthropicOptions {
  const o = plainObject(options, 'options');
  rejectUnknownKeys(o, OPTION_KEYS, '');
  const replyTokens = whole(o.replyTokens, 'replyTokens', 200, 0);
  const reply = optionalText(o.reply, 'reply');
  const thinkingTokens = whole(o.thinkingTokens, 'thinkingTokens', 256, 0);
  const models = resolveModels(o.models, { replyTokens, reply, thinkingTokens });
  const acceptUnknown = flag(o.acceptUnknownModels, 'acceptUnknownModels', false);
  const fallback: ResolvedModel = { ...UNKNOWN_MODEL_FACTS, replyTokens, reply, thinkingTokens };
  return {
    port: whole(o.port, 'port', 0, 0, 65_535),
    host: optionalText(o.host, 'host') ?? '127.0.0.1',
    toolCalls: oneOf(o.toolCalls, 'toolCalls', ['first-turn', 'forced-only'], 'first-turn'),
    latencyMs: whole(o.latencyMs, 'latencyMs', 0, 0),
    tokensPerChunk: whole(o.tokensPerChunk, 'tokensPerChunk', 1, 1),
    chunkDelayMs: whole(o.chunkDelayMs, 'chunkDelayMs', 0, 0),
    apiKey: optionalText(o.apiKey, 'apiKey'),
    promptCaching: flag(o.promptCaching, 'promptCaching', true),
    abortBilling: oneOf(o.abortBilling, 'abortBilling', ['generated', 'full'], 'generated'),
    recordRequests: flag(o.recordRequests, 'recordRequests', true),
    keepAlive: flag(o.keepAlive, 'keepAlive', true),
    now: clock(o.now),
    model: (name) => models.get(name) ?? (acceptUnknown && isSafeName(name) ? fallback : undefined),
  };
}

function resolveModels(
  value: unknown,
  defaults: Pick<ResolvedModel, 'replyTokens' | 'reply' | 'thinkingTokens'>,
): Map<string, ResolvedModel> {
  const resolved = new Map<string, ResolvedModel>();
  for (const [name, facts] of CLAUDE_MODELS) resolved.set(name, { ...facts, ...defaults });
  if (value === undefined) return resolved;
  const models = plainObject(value, 'models');
  for (const name of Object.keys(models)) {
    if (!isSafeName(name)) {
      throw new RangeError(
        `${WHERE}: models cannot name ${quote(name)}: it collides with Object.prototype`,
      );
    }
    const path = `models[${quote(name)}]`;
    const m = plainObject(models[name], path);
    rejectUnknownKeys(m, MODEL_KEYS, `${path}.`);
    const base = resolved.get(name) ?? { ...UNKNOWN_MODEL_FACTS, ...defaults };
    resolved.set(name, {
      maxOutputTokens: whole(m.maxOutputTokens, `${path}.maxOutputTokens`, base.maxOutputTokens, 1),
      contextWindow: whole(m.contextWindow, `${path}.contextWindow`, base.contextWindow, 1),
      minCacheableTokens: whole(
        m.minCacheableTokens,
        `${path}.minCacheableTokens`,
        base.minCacheableTokens,
        1,
      ),
      tokenizer: oneOf(
        m.tokenizer,
        `${path}.tokenizer`,
        ['claude-3', 'claude-4.7'],
        base.tokenizer,
      ),
      replyTokens: whole(m.replyTokens, `${path}.replyTokens`, base.replyTokens, 0),
      reply: optionalText(m.reply, `${path}.reply`) ?? base.reply,
      thinkingTokens: whole(m.thinkingTokens, `${path}.thinkingTokens`, base.thinkingTokens, 0),
    });
  }
  return resolved;
}

/** Names that would reach `Object.prototype` through a plain-object lookup are never models. */
function isSafeName(name: string): boolean {
  return name !== '' && name !== '__proto__' && name !== 'prototype' && !(name in Object.prototype);
}

function plainObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${WHERE}: ${path} must be an object, got ${describe(value)}`);
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    // `{ __proto__: {...} }` in a literal sets the prototype instead of adding a key.
    throw new TypeError(
      `${WHERE}: ${path} must be a plain object (a literal "__proto__" key sets its prototype)`,
    );
  }
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(value: Record<string, unknown>, known: Set<string>, prefix: string) {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new TypeError(`${WHERE}: unknown option ${quote(prefix + key)}`);
    }
  }
}

function whole(
  value: unknown,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') {
    throw new TypeError(`${WHERE}: ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}-${max}`;
    throw new RangeError(`${WHERE}: ${name} must be an integer ${range}, got ${value}`);
  }
  return value;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new TypeError(`${WHERE}: ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

function optionalText(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${WHERE}: ${name} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback: T) {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    const list = allowed.map((a) => `'${a}'`).join(' or ');
    throw new RangeError(`${WHERE}: ${name} must be ${list}, got ${describe(value)}`);
  }
  return value as T;
}

function clock(value: unknown): () => number {
  if (value === undefined) return Date.now;
  if (typeof value !== 'function') {
    throw new TypeError(`${WHERE}: now must be a function, got ${describe(value)}`);
  }
  return value as () => number;
}

/** A client-controlled string, quoted and cut to 64 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
