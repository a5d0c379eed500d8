import { createRequire } from 'node:module';
import type { EncodingName, TokenEncoder } from './token-encoder.interface.js';

// Structural view of the parts of gpt-tokenizer 4 used here; its own typings are deep imports.
interface GptEncodingLike {
  countTokens(text: string, options: { disallowedSpecial: ReadonlySet<string> }): number;
  setMergeCacheSize(size: number): void;
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

// gpt-tokenizer keeps an LRU of merged out-of-vocabulary pieces. Its default of 100k entries
// turns pathological once full: each eviction walks the Map's deleted slots, and 5 MB of random
// base64 took 21.5 s instead of 3.4 s with no cache. 1000 entries keep most of the speed-up on
// prose and code (~30%), cost ≤ 0.5 MB, and slow the worst case by ~20% only.
const MERGE_CACHE_ENTRIES = 1_000;

// An empty disallow-list makes `<|endoftext|>` and friends ordinary text instead of an error;
// with no allow-list none of them can become a special token either.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() } as const;

// Rank tables are immutable and cost 0.2–0.8 s and ~15 MB of heap (o200k) to build, so every
// counter in the process shares one instance per encoding.
const loaded = new Map<EncodingName, TokenEncoder>();

/** Returns the process-wide gpt-tokenizer encoder for `encoding`, building it on first call. */
export function gptTokenizerEncoder(encoding: EncodingName): TokenEncoder {
  let encoder = loaded.get(encoding);
  if (encoder === undefined) {
    encoder = build(encoding);
    loaded.set(encoding, encoder);
  }
  return encoder;
}

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
  api.setMergeCacheSize(MERGE_CACHE_ENTRIES);
  return { name, count: (text) => api.countTokens(text, AS_PLAIN_TEXT) };
}
