/** Smallest prompt the real API caches. */
const MIN_CACHEABLE_TOKENS = 1024;
/** The real API caches in increments of this many tokens. */
const CACHE_INCREMENT = 128;
/** Prompts remembered per model; old ones are forgotten first, as a real cache evicts. */
const MAX_ENTRIES_PER_MODEL = 256;

interface Entry {
  segments: readonly string[];
  promptTokens: number;
}

/**
 * Deterministic stand-in for OpenAI's automatic prompt caching.
 *
 * A prompt is a list of segments (tools, instructions, then each message, serialised). When an
 * earlier prompt of the same model had at least 1024 tokens and its segments are a prefix of (or
 * equal to) this prompt's, `cached_tokens` is that earlier prompt's token count rounded down to a
 * multiple of 128 (and never above this prompt's count). Otherwise it is 0. Approximate on purpose:
 * it reproduces "resending a long conversation makes most of it cached" without tokenising prefixes.
 */
export class PromptCacheSimulator {
  private readonly byModel = new Map<string, Entry[]>();

  constructor(private readonly enabled: boolean) {}

  /** Returns the cached tokens for this prompt, then remembers it for later requests. */
  lookup(model: string, segments: readonly string[], promptTokens: number): number {
    if (!this.enabled) return 0;
    const entries = this.byModel.get(model) ?? [];
    let best = 0;
    for (const entry of entries) {
      if (entry.promptTokens > best && isPrefix(entry.segments, segments))
        best = entry.promptTokens;
    }
    const cached =
      best >= MIN_CACHEABLE_TOKENS
        ? Math.floor(Math.min(best, promptTokens) / CACHE_INCREMENT) * CACHE_INCREMENT
        : 0;
    if (promptTokens >= MIN_CACHEABLE_TOKENS) {
      entries.push({ segments, promptTokens });
      if (entries.length > MAX_ENTRIES_PER_MODEL) entries.shift();
      this.byModel.set(model, entries);
    }
    return cached;
  }

  /** Forgets every remembered prompt. */
  reset(): void {
    this.byModel.clear();
  }
}

function isPrefix(prefix: readonly string[], of: readonly string[]): boolean {
  if (prefix.length > of.length) return false;
  return prefix.every((segment, i) => segment === of[i]);
}
