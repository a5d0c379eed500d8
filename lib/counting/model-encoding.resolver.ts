import type { EncodingName } from './token-encoder.interface.js';

// Mirrors tiktoken's `MODEL_TO_ENCODING` for the encodings this library ships. Deprecated
// p50k/r50k models are left out on purpose: they resolve to `undefined` and use the estimator.
const EXACT: ReadonlyMap<string, EncodingName> = new Map<string, EncodingName>([
  ['o1', 'o200k_base'],
  ['o3', 'o200k_base'],
  ['o4-mini', 'o200k_base'],
  ['gpt-5', 'o200k_base'],
  ['gpt-4.1', 'o200k_base'],
  ['gpt-4.5', 'o200k_base'],
  ['gpt-4o', 'o200k_base'],
  ['gpt-4', 'cl100k_base'],
  ['gpt-3.5-turbo', 'cl100k_base'],
  ['gpt-3.5', 'cl100k_base'],
  ['gpt-35-turbo', 'cl100k_base'],
  ['davinci-002', 'cl100k_base'],
  ['babbage-002', 'cl100k_base'],
  ['text-embedding-ada-002', 'cl100k_base'],
  ['text-embedding-3-small', 'cl100k_base'],
  ['text-embedding-3-large', 'cl100k_base'],
]);

// Mirrors tiktoken's `MODEL_PREFIX_TO_ENCODING`, first match wins. Order matters: every
// o200k family that starts with "gpt-4" is listed before the cl100k "gpt-4-" entry.
// `gpt-oss-` is o200k_harmony upstream; it differs from o200k_base only in special tokens,
// which this library always counts as plain text, so o200k_base gives the same counts.
const PREFIXES: ReadonlyArray<readonly [string, EncodingName]> = [
  ['o1-', 'o200k_base'],
  ['o3-', 'o200k_base'],
  ['o4-mini-', 'o200k_base'],
  ['gpt-5', 'o200k_base'],
  ['gpt-4.5-', 'o200k_base'],
  ['gpt-4.1-', 'o200k_base'],
  ['chatgpt-4o-', 'o200k_base'],
  ['gpt-4o-', 'o200k_base'],
  ['gpt-oss-', 'o200k_base'],
  ['gpt-4-', 'cl100k_base'],
  ['gpt-3.5-turbo-', 'cl100k_base'],
  ['gpt-35-turbo-', 'cl100k_base'],
];

const FINE_TUNE_PREFIX = 'ft:';

/**
 * Returns the tiktoken encoding an OpenAI model uses, by tiktoken's own rules: exact names
 * first, then family prefixes (`gpt-4o-…`, `gpt-4.1-…`, `o3-…`, `gpt-5…`, `gpt-4-…`, …).
 * Fine-tunes (`ft:<base>:<org>::<id>`) resolve to their base model's encoding; unlike
 * tiktoken's `ft:gpt-4` prefix this also maps `ft:gpt-4.1-…` to o200k_base.
 *
 * Never throws: unknown names (Claude, Llama, Mistral, deprecated completion models…) and
 * non-string input return `undefined`, and callers fall back to {@link estimateTokens}.
 */
export function encodingForModel(model: string): EncodingName | undefined {
  if (typeof model !== 'string') return undefined;
  if (model.startsWith(FINE_TUNE_PREFIX)) {
    const end = model.indexOf(':', FINE_TUNE_PREFIX.length);
    // The base name stops at the next colon, so it never starts with "ft:" again.
    return encodingForModel(model.slice(FINE_TUNE_PREFIX.length, end === -1 ? undefined : end));
  }
  const exact = EXACT.get(model);
  if (exact !== undefined) return exact;
  for (const [prefix, encoding] of PREFIXES) {
    if (model.startsWith(prefix)) return encoding;
  }
  return undefined;
}
