import type { ReplyStyle } from './reply.planner.js';
import {
  booleanOption,
  functionOption,
  integerOption,
  invalidOption,
  isPlainObject,
  plainOptions,
  stringOption,
} from './kit-options.validator.js';

/**
 * Longest reply or reasoning the fake produces, in tokens: above any real model's output limit,
 * and small enough that a reply (6 bytes a token) stays far below V8's string length limit.
 */
export const MAX_REPLY_TOKENS = 1_000_000;
/** Most embedding dimensions, in the `embeddingDimensions` option and in a request. */
export const MAX_EMBEDDING_DIMENSIONS = 4096;

/**
 * Options of {@link startFakeOpenAI}; every field is optional. Each is checked when the server
 * starts: an unknown key, a value of the wrong type or out of range throws a
 * `TokencapConfigError` naming it.
 */
export interface FakeOpenAIOptions {
  /** Port to listen on (0–65535); `0` (the default) lets the OS pick a free one. */
  port?: number;
  /** Interface to bind; defaults to `'127.0.0.1'` so the fake is never reachable from outside. */
  host?: string;
  /**
   * Visible reply length, in tokens (0 to 1,000,000), when the request sets no cap
   * and no `x-fake-reply-tokens` header. Defaults to 200.
   */
  replyTokens?: number;
  /**
   * What replies say: `'repeat'` (the default) is `' hello'` once per token, easy to assert on;
   * `'prose'` is varied English (a few paragraphs about budgets, in a loop), for demos. Both count
   * exactly one token per unit in every OpenAI encoding, so `replyTokens` and usage stay exact.
   */
  replyStyle?: ReplyStyle;
  /**
   * Hidden reasoning tokens a reasoning model (`o1*`, `o3*`, `o4*`, `gpt-5*`) spends before its
   * reply (0 to 1,000,000), unless the `x-fake-reasoning-tokens` header says
   * otherwise. Defaults to 64.
   */
  reasoningTokens?: number;
  /**
   * Delay in ms before the first byte of every response (time to first token): an integer from 0
   * to `Number.MAX_SAFE_INTEGER` (delays past Node's 2³¹−1 ms timer limit are honoured). Defaults
   * to 0.
   */
  latencyMs?: number;
  /** Tokens carried by each streamed content chunk, at least 1. Defaults to 1. */
  tokensPerChunk?: number;
  /**
   * Delay in ms between streamed chunks, as `latencyMs`. Defaults to 0 (the server still yields
   * between chunks).
   */
  chunkDelayMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get a 401. */
  apiKey?: string;
  /** Simulates prompt caching (see `prompt-cache.simulator.ts`). Defaults to `true`. */
  promptCaching?: boolean;
  /**
   * Length of embedding vectors when the request sets no `dimensions` (1 to
   * 4,096). Defaults to 8.
   */
  embeddingDimensions?: number;
  /**
   * Model names to report in responses, keyed by the requested name, to mimic the API answering
   * `gpt-4o` with a dated snapshot such as `gpt-4o-2024-08-06`. Unlisted models are echoed
   * (any name, `constructor` or `__proto__` included: only the object's own keys are read).
   */
  modelSnapshots?: Readonly<Record<string, string>>;
  /**
   * Keeps every request in `server.requests`. Defaults to `true`; benchmarks that send many
   * requests turn it off to keep memory flat.
   */
  recordRequests?: boolean;
  /**
   * Keeps connections open between requests, as the real API does. Tests that abort requests can
   * turn it off so no pooled socket outlives a test: every response then closes its connection.
   * Defaults to `true`.
   */
  keepAlive?: boolean;
  /** Clock in epoch milliseconds for `created` fields; tests can pin it. Defaults to `Date.now`. */
  now?: () => number;
}

/** {@link FakeOpenAIOptions} with every default filled in. */
export interface ResolvedFakeOpenAIOptions {
  port: number;
  host: string;
  replyTokens: number;
  replyStyle: ReplyStyle;
  reasoningTokens: number;
  latencyMs: number;
  tokensPerChunk: number;
  chunkDelayMs: number;
  apiKey: string | undefined;
  promptCaching: boolean;
  embeddingDimensions: number;
  modelSnapshots: ReadonlyMap<string, string>;
  recordRequests: boolean;
  keepAlive: boolean;
  now: () => number;
}

const WHERE = 'startFakeOpenAI';
const OPTION_NAMES: ReadonlyArray<keyof FakeOpenAIOptions> = [
  'port',
  'host',
  'replyTokens',
  'replyStyle',
  'reasoningTokens',
  'latencyMs',
  'tokensPerChunk',
  'chunkDelayMs',
  'apiKey',
  'promptCaching',
  'embeddingDimensions',
  'modelSnapshots',
  'recordRequests',
  'keepAlive',
  'now',
];

/** A delay option or fault parameter, in ms: any safe integer from 0 (see `ClientConnection.pause`). */
export const DELAY_RANGE = { min: 0, max: Number.MAX_SAFE_INTEGER } as const;
/** A token count the fake produces (reply, reasoning). */
export const TOKENS_RANGE = { min: 0, max: MAX_REPLY_TOKENS } as const;

/**
 * Fills in defaults and rejects everything that would make the fake silently misbehave: unknown
 * keys (a typo such as `replyToken`), values of the wrong type, out of range (`tokensPerChunk: 0`,
 * a negative reply length) or read through a prototype.
 * @throws TokencapConfigError naming the option and the bad value.
 */
export function resolveFakeOpenAIOptions(options?: FakeOpenAIOptions): ResolvedFakeOpenAIOptions {
  const given = plainOptions(WHERE, options, OPTION_NAMES);
  const int = (
    name: keyof FakeOpenAIOptions,
    range: { min: number; max: number },
    fallback: number,
  ) => integerOption(WHERE, name, given[name], { ...range, fallback });
  return {
    port: int('port', { min: 0, max: 65_535 }, 0),
    host: stringOption(WHERE, 'host', given.host) ?? '127.0.0.1',
    replyTokens: int('replyTokens', TOKENS_RANGE, 200),
    replyStyle: replyStyle(given.replyStyle),
    reasoningTokens: int('reasoningTokens', TOKENS_RANGE, 64),
    latencyMs: int('latencyMs', DELAY_RANGE, 0),
    tokensPerChunk: int('tokensPerChunk', { min: 1, max: MAX_REPLY_TOKENS }, 1),
    chunkDelayMs: int('chunkDelayMs', DELAY_RANGE, 0),
    apiKey: stringOption(WHERE, 'apiKey', given.apiKey),
    promptCaching: booleanOption(WHERE, 'promptCaching', given.promptCaching, true),
    embeddingDimensions: int('embeddingDimensions', { min: 1, max: MAX_EMBEDDING_DIMENSIONS }, 8),
    modelSnapshots: snapshots(given.modelSnapshots),
    recordRequests: booleanOption(WHERE, 'recordRequests', given.recordRequests, true),
    keepAlive: booleanOption(WHERE, 'keepAlive', given.keepAlive, true),
    now: functionOption<() => number>(WHERE, 'now', given.now) ?? Date.now,
  };
}

function replyStyle(value: unknown): ReplyStyle {
  if (value === undefined) return 'repeat';
  if (value === 'repeat' || value === 'prose') return value;
  throw invalidOption(WHERE, 'replyStyle', "'repeat' or 'prose'", value);
}

// A Map, so that a requested model named `constructor` or `toString` is never answered with
// something found on Object.prototype.
function snapshots(value: unknown): ReadonlyMap<string, string> {
  if (value === undefined) return new Map();
  if (!isPlainObject(value)) {
    throw invalidOption(WHERE, 'modelSnapshots', 'a plain object of model names', value);
  }
  const map = new Map<string, string>();
  for (const [model, snapshot] of Object.entries(value)) {
    if (typeof snapshot !== 'string' || snapshot === '') {
      throw invalidOption(
        WHERE,
        `modelSnapshots[${JSON.stringify(model)}]`,
        'a non-empty string',
        snapshot,
      );
    }
    map.set(model, snapshot);
  }
  return map;
}
