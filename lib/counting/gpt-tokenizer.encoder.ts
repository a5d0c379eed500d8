import { createRequire } from 'node:module';
import { MergeCache } from './merge.cache.js';
import {
  type EncodingName,
  oncePerEncoding,
  type TokenEncoder,
  type TokenEncoderFactory,
} from './token-encoder.interface.js';

// Structural view of the parts of gpt-tokenizer 4 used here; its own typings are deep imports.
interface GptEncodingLike {
  countTokens(text: string, options: { disallowedSpecial: ReadonlySet<string> }): number;
  setMergeCacheSize(size: number): void;
  /** Internal to gpt-tokenizer 4 (a pinned dependency); checked before it is used. */
  bytePairEncodingCoreProcessor?: { mergeCache?: unknown; mergeCacheSize?: unknown };
}
interface GptEncodingModule {
  GptEncoding: {
    getEncodingApi(name: EncodingName, getRanks: () => unknown): GptEncodingLike;
  };
}

// The public API is synchronous, so the rank tables (2.4 MB of JS for o200k) are loaded with a
// synchronous require on first use instead of a static import: importing this library loads
// no tokenizer code at all, and only the encoding a counted model needs is ever parsed.
const require = createRequire(import.meta.url);

// gpt-tokenizer keeps an LRU of merged out-of-vocabulary pieces (a Map; its default holds 100k
// entries). Its eviction takes the Map's first key, which walks every deleted slot V8 has not
// compacted yet, so a full cache turns pathological: 5 MB of random base64 took 21.5 s with 100k
// entries instead of 3.4 s with no cache, and 10k entries still doubled the time per MB of random
// base64. The Map is therefore replaced by a MergeCache (same operations, oldest entry kept in a
// linked list, nothing iterated), which makes 10k entries cost nothing on hostile input; they
// speed up prose and JSON by keeping most of a conversation's unusual words merged. Pieces of
// hostile text are long (CJK runs up to ~256 characters, each entry then holding as many token
// ids), so the cache is also bounded in characters: 10k entries of CJK would otherwise keep ~21 MB.
// With the bound it keeps at most ~1.5 MB. If the internals ever differ, the built-in cache is
// used with 1k entries, the previous setting.
const MERGE_CACHE_ENTRIES = 10_000;
const MERGE_CACHE_CHARS = 100_000;
const BUILT_IN_MERGE_CACHE_ENTRIES = 1_000;

// An empty disallow-list makes `<|endoftext|>` and friends ordinary text instead of an error;
// with no allow-list none of them can become a special token either.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() } as const;

/** Returns the process-wide gpt-tokenizer encoder for an encoding, building it on first call. */
export const gptTokenizerEncoder: TokenEncoderFactory = oncePerEncoding(build);

function build(name: EncodingName): TokenEncoder {
  const { GptEncoding } = require('gpt-tokenizer/GptEncoding') as GptEncodingModule;
  // Literal specifiers, so that bundlers and file tracers can see both tables.
  const ranksModule = (
    name === 'o200k_base'
      ? require('gpt-tokenizer/bpeRanks/o200k_base')
      : require('gpt-tokenizer/bpeRanks/cl100k_base')
  ) as { default: unknown };
  const ranks = ranksModule.default;
  // A private instance rather than gpt-tokenizer/encoding/<name>: that module builds its
  // singleton as soon as it is imported, and tuning a shared instance's merge cache would
  // affect other code in the process that uses gpt-tokenizer directly.
  const api = GptEncoding.getEncodingApi(name, () => ranks);
  const core = api.bytePairEncodingCoreProcessor;
  if (core && core.mergeCache instanceof Map && typeof core.mergeCacheSize === 'number') {
    core.mergeCache = new MergeCache(MERGE_CACHE_CHARS);
    core.mergeCacheSize = MERGE_CACHE_ENTRIES;
  } else {
    api.setMergeCacheSize(BUILT_IN_MERGE_CACHE_ENTRIES);
  }
  return { name, count: (text) => api.countTokens(text, AS_PLAIN_TEXT) };
}
