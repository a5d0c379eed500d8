import { countChatPrompt } from './chat-tokens.formula.js';
import type { ChatTokenRequest } from './chat-request.types.js';
import type { CountContext } from './count-context.interface.js';
import { gptTokenizerEncoder } from './gpt-tokenizer.encoder.js';
import { jsTiktokenEncoder } from './js-tiktoken.encoder.js';
import { countSplittingLongRuns } from './long-run.splitter.js';
import { encodingForModel } from './model-encoding.resolver.js';
import { countResponsesPrompt } from './responses-input.formula.js';
import type { ResponsesTokenRequest } from './responses-request.types.js';
import { TextCountCache, type TextCountCacheStats } from './text-count.cache.js';
import type {
  EncodingName,
  TokenEncoder,
  TokenEncoderFactory,
  TokenizerBackend,
} from './token-encoder.interface.js';
import { estimateTokens } from './token.estimator.js';
import { assertKnownOptions } from '../core/known-options.guard.js';

/** Default {@link TokenCounterOptions.cacheSize}. */
export const DEFAULT_CACHE_SIZE = 10_000;
/** Default {@link TokenCounterOptions.cacheMaxChars}: ≈ 16 MB of cached string data at most. */
export const DEFAULT_CACHE_MAX_CHARS = 8_000_000;
/**
 * Default {@link TokenCounterOptions.imageTokens}: what gpt-4o bills for one 1024×1024 image at
 * `detail: 'high'` (85 base + 4 tiles × 170). A `low` image costs 85; gpt-4o-mini bills ~33×
 * more tokens per image at the same price. Reconcile with reported usage for exact figures.
 */
export const DEFAULT_IMAGE_TOKENS = 765;

/** Options of a {@link TokenCounter}. */
export interface TokenCounterOptions {
  /**
   * Tokenizer implementation: `'gpt-tokenizer'` (default, fastest), `'js-tiktoken'`, or a
   * factory returning your own {@link TokenEncoder} for an encoding.
   */
  readonly backend?: TokenizerBackend | TokenEncoderFactory;
  /** Most strings whose counts are remembered; 0 disables the cache. Default 10 000. */
  readonly cacheSize?: number;
  /** Most UTF-16 units remembered across all cached strings. Default 8 000 000 (≈ 16 MB). */
  readonly cacheMaxChars?: number;
  /** Tokens counted per image content part. Default 765. */
  readonly imageTokens?: number;
}

/**
 * Counts tokens for OpenAI models: exactly with the model's tiktoken encoding when it is known
 * ({@link encodingForModel}), with {@link estimateTokens} otherwise.
 *
 * - Encodings load lazily, on the first count that needs them, once per process.
 * - Special-token strings (`<|endoftext|>`) count as plain text and never throw.
 * - Cost is linear in input length: runs of 128+ same-class characters are split (see
 *   `countSplittingLongRuns`), which can only over-count, by 2 tokens per split. Measured worst
 *   case with gpt-tokenizer: ~1–2 s per MB of random letters, base64 or CJK; prose and code
 *   count at 12–35 MB/s. js-tiktoken is 5–20× slower, up to ~37 s/MB on CJK runs.
 * - Counts of individual strings (message contents, arguments…) are cached in a bounded LRU, so
 *   an agent loop that resends its conversation pays only for the new turn.
 */
export class TokenCounter {
  private readonly encoderFor: TokenEncoderFactory;
  /** Each loaded encoder's count, as a function made once (it runs for every uncached string). */
  private readonly counts = new Map<EncodingName, TokenEncoder['count']>();
  private readonly cache: TextCountCache;
  private readonly imageTokens: number;
  private readonly contexts = new Map<EncodingName | undefined, CountContext>();

  /**
   * Creates a counter; nothing is loaded until the first count.
   * @throws TypeError when `backend` names no known tokenizer.
   */
  constructor(options: TokenCounterOptions = {}) {
    assertKnownOptions(
      options,
      ['backend', 'cacheSize', 'cacheMaxChars', 'imageTokens'],
      'TokenCounter',
    );
    this.encoderFor = encoderFactory(options.backend ?? 'gpt-tokenizer');
    this.cache = new TextCountCache({
      maxEntries: nonNegative(options.cacheSize, DEFAULT_CACHE_SIZE),
      maxChars: nonNegative(options.cacheMaxChars, DEFAULT_CACHE_MAX_CHARS),
    });
    this.imageTokens = nonNegative(options.imageTokens, DEFAULT_IMAGE_TOKENS);
  }

  /** Tokens in `text` for `model`; estimated when the model's encoding is unknown. */
  count(text: string, model: string): number {
    return this.context(encodingForModel(model)).text(text);
  }

  /** Prompt tokens of a Chat Completions request; see {@link countChatTokens}. */
  countChat(request: ChatTokenRequest): number {
    const count = countChatPrompt(request, this.context(encodingForModel(request?.model)));
    return Math.min(count, Number.MAX_SAFE_INTEGER);
  }

  /** Input tokens of a Responses request; see {@link countResponsesInput}. */
  countResponses(request: ResponsesTokenRequest): number {
    const count = countResponsesPrompt(request, this.context(encodingForModel(request?.model)));
    return Math.min(count, Number.MAX_SAFE_INTEGER);
  }

  /** Loads encodings ahead of the first request (0.2–0.8 s each with gpt-tokenizer). */
  warmUp(encodings: readonly EncodingName[] = ['o200k_base']): void {
    for (const encoding of encodings) this.countOf(encoding);
  }

  /** Size, limits and hit rate of the string-count cache. */
  cacheStats(): TextCountCacheStats {
    return this.cache.stats();
  }

  /** Forgets every cached count. */
  clearCache(): void {
    this.cache.clear();
  }

  private context(encoding: EncodingName | undefined): CountContext {
    let ctx = this.contexts.get(encoding);
    if (ctx === undefined) {
      ctx = {
        encoding,
        imageTokens: this.imageTokens,
        text: encoding === undefined ? estimateText : (text) => this.exact(text, encoding),
      };
      this.contexts.set(encoding, ctx);
    }
    return ctx;
  }

  private exact(text: string, encoding: EncodingName): number {
    if (typeof text !== 'string' || text.length === 0) return 0;
    return this.cache.count(text, encoding, this.uncached);
  }

  private readonly uncached = (text: string, encoding: EncodingName): number =>
    countSplittingLongRuns(text, this.countOf(encoding));

  private countOf(encoding: EncodingName): (text: string) => number {
    let count = this.counts.get(encoding);
    if (count === undefined) {
      const encoder = this.encoderFor(encoding);
      count = (piece) => encoder.count(piece);
      this.counts.set(encoding, count);
    }
    return count;
  }
}

function encoderFactory(backend: TokenizerBackend | TokenEncoderFactory): TokenEncoderFactory {
  if (typeof backend === 'function') return backend;
  if (backend === 'gpt-tokenizer') return gptTokenizerEncoder;
  if (backend === 'js-tiktoken') return jsTiktokenEncoder;
  throw new TypeError(
    `Unknown tokenizer backend ${JSON.stringify(backend)}: expected 'gpt-tokenizer', 'js-tiktoken' or a factory function.`,
  );
}

function estimateText(text: string): number {
  return typeof text === 'string' ? estimateTokens(text) : 0;
}

function nonNegative(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? Math.floor(value) : fallback;
}
