import type { EncodingName } from './token-encoder.interface.js';

/** Size limits of a the counting cache. */
export interface TextCountCacheLimits {
  /** Most texts kept. */
  readonly maxEntries: number;
  /** Most UTF-16 units kept, summed over all cached texts (≈ 2 bytes each). */
  readonly maxChars: number;
}

/** Occupancy and effectiveness of a the counting cache. */
export interface TextCountCacheStats extends TextCountCacheLimits {
  /** Texts currently cached. */
  readonly entries: number;
  /** UTF-16 units currently cached. */
  readonly chars: number;
  /** Lookups answered from the cache since creation. */
  readonly hits: number;
  /** Lookups that had to tokenize. */
  readonly misses: number;
}

// A node of the recency list. Recency is kept in a linked list rather than by re-inserting
// into the Map: evicting with `keys().next()` walks every deleted slot V8 has not compacted
// yet, which made a full cache 4× slower per miss (gpt-tokenizer's own merge cache has the
// same problem; see gpt-tokenizer.encoder.ts).
interface Entry {
  readonly text: string;
  o200k_base?: number;
  cl100k_base?: number;
  newer: Entry | undefined;
  older: Entry | undefined;
}

/**
 * Least-recently-used map from a text to its token count per encoding, bounded both in
 * entries and in total characters.
 *
 * Keys are the caller's own strings, not derived keys: an agent loop resends the same message
 * string objects every turn and V8 caches a string's hash on the string itself, so a repeated
 * message costs one hash lookup and no copy (an equal string rebuilt from JSON is hashed once,
 * at ~1 GB/s, still far cheaper than tokenizing). Keys are references, so the memory the cache
 * can keep alive after callers drop their strings is bounded by `maxChars`.
 *
 * A WeakMap keyed by message object was considered and rejected: OpenAI message params are
 * plain mutable objects, so the same object does not imply the same content, and the string
 * lookup it would save is already O(1).
 */
export class TextCountCache {
  private readonly entries = new Map<string, Entry>();
  private newest: Entry | undefined;
  private oldest: Entry | undefined;
  private chars = 0;
  private hits = 0;
  private misses = 0;

  /** Creates an empty cache; texts longer than `maxChars` are never stored. */
  constructor(private readonly limits: TextCountCacheLimits) {}

  /** Returns the count of `text` under `encoding`, computing and remembering it on a miss. */
  count(
    text: string,
    encoding: EncodingName,
    compute: (text: string, encoding: EncodingName) => number,
  ): number {
    const entry = this.entries.get(text);
    if (entry !== undefined) {
      this.touch(entry);
      const cached = entry[encoding];
      if (cached !== undefined) {
        this.hits++;
        return cached;
      }
    }
    this.misses++;
    const value = compute(text, encoding);
    if (entry !== undefined) {
      entry[encoding] = value;
    } else if (text.length <= this.limits.maxChars && this.limits.maxEntries > 0) {
      this.insert({ text, [encoding]: value, newer: undefined, older: undefined });
    }
    return value;
  }

  /** Current size, limits and hit counters. */
  stats(): TextCountCacheStats {
    return {
      maxEntries: this.limits.maxEntries,
      maxChars: this.limits.maxChars,
      entries: this.entries.size,
      chars: this.chars,
      hits: this.hits,
      misses: this.misses,
    };
  }

  /** Drops every cached text. */
  clear(): void {
    this.entries.clear();
    this.newest = undefined;
    this.oldest = undefined;
    this.chars = 0;
  }

  private insert(entry: Entry): void {
    this.entries.set(entry.text, entry);
    this.chars += entry.text.length;
    this.link(entry);
    while (this.entries.size > this.limits.maxEntries || this.chars > this.limits.maxChars) {
      const oldest = this.oldest as Entry;
      this.unlink(oldest);
      this.entries.delete(oldest.text);
      this.chars -= oldest.text.length;
    }
  }

  private touch(entry: Entry): void {
    if (entry === this.newest) return;
    this.unlink(entry);
    this.link(entry);
  }

  private link(entry: Entry): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = entry;
    this.newest = entry;
    this.oldest ??= entry;
  }

  private unlink(entry: Entry): void {
    if (entry.newer !== undefined) entry.newer.older = entry.older;
    else this.newest = entry.older;
    if (entry.older !== undefined) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    entry.newer = undefined;
    entry.older = undefined;
  }
}
