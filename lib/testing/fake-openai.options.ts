/** Options of {@link startFakeOpenAI}; every field is optional. */
export interface FakeOpenAIOptions {
  /** Port to listen on; `0` (the default) lets the OS pick a free one. */
  port?: number;
  /** Interface to bind; defaults to `'127.0.0.1'` so the fake is never reachable from outside. */
  host?: string;
  /**
   * Visible reply length, in tokens, when the request sets no cap and no `x-fake-reply-tokens`
   * header. Defaults to 200.
   */
  replyTokens?: number;
  /**
   * Hidden reasoning tokens a reasoning model (`o1*`, `o3*`, `o4*`, `gpt-5*`) spends before its
   * reply, unless the `x-fake-reasoning-tokens` header says otherwise. Defaults to 64.
   */
  reasoningTokens?: number;
  /** Delay before the first byte of every response (time to first token). Defaults to 0. */
  latencyMs?: number;
  /** Tokens carried by each streamed content chunk. Defaults to 1. */
  tokensPerChunk?: number;
  /** Delay between streamed chunks. Defaults to 0 (the server still yields between chunks). */
  chunkDelayMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get a 401. */
  apiKey?: string;
  /** Simulates prompt caching (see `prompt-cache.simulator.ts`). Defaults to `true`. */
  promptCaching?: boolean;
  /** Length of embedding vectors when the request sets no `dimensions`. Defaults to 8. */
  embeddingDimensions?: number;
  /**
   * Model names to report in responses, keyed by the requested name, to mimic the API answering
   * `gpt-4o` with a dated snapshot such as `gpt-4o-2024-08-06`. Unlisted models are echoed.
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
  reasoningTokens: number;
  latencyMs: number;
  tokensPerChunk: number;
  chunkDelayMs: number;
  apiKey: string | undefined;
  promptCaching: boolean;
  embeddingDimensions: number;
  modelSnapshots: Readonly<Record<string, string>>;
  recordRequests: boolean;
  keepAlive: boolean;
  now: () => number;
}

/**
 * Fills in defaults and rejects values that would make the fake silently misbehave (a negative
 * reply length would otherwise produce empty replies that look like a Tokencap bug).
 * @throws RangeError naming the offending option.
 */
export function resolveFakeOpenAIOptions(
  options: FakeOpenAIOptions = {},
): ResolvedFakeOpenAIOptions {
  return {
    port: wholeNumber('port', options.port, 0),
    host: options.host ?? '127.0.0.1',
    replyTokens: wholeNumber('replyTokens', options.replyTokens, 200),
    reasoningTokens: wholeNumber('reasoningTokens', options.reasoningTokens, 64),
    latencyMs: wholeNumber('latencyMs', options.latencyMs, 0),
    tokensPerChunk: Math.max(1, wholeNumber('tokensPerChunk', options.tokensPerChunk, 1)),
    chunkDelayMs: wholeNumber('chunkDelayMs', options.chunkDelayMs, 0),
    apiKey: options.apiKey,
    promptCaching: flag('promptCaching', options.promptCaching),
    embeddingDimensions: Math.max(
      1,
      wholeNumber('embeddingDimensions', options.embeddingDimensions, 8),
    ),
    modelSnapshots: { ...options.modelSnapshots },
    recordRequests: flag('recordRequests', options.recordRequests),
    keepAlive: flag('keepAlive', options.keepAlive),
    now: options.now ?? Date.now,
  };
}

// A string such as 'false' would otherwise read as true.
function flag(name: string, value: boolean | undefined): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') {
    throw new RangeError(
      `startFakeOpenAI: ${name} must be a boolean, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function wholeNumber(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`startFakeOpenAI: ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}
