import { createHash } from 'node:crypto';

import type { PromptLayout } from './prompt.layout.js';

/** How a request's input splits between the cache and fresh processing. */
export interface CacheUsage {
  /** Input tokens after the last cache breakpoint (or all of them without caching). */
  inputTokens: number;
  cacheReadInputTokens: number;
  cacheCreation5mInputTokens: number;
  cacheCreation1hInputTokens: number;
}

/** A lookup whose writes wait for {@link CacheLookup.commit}. */
export interface CacheLookup {
  usage: CacheUsage;
  /** Writes and refreshes the entries; the API does it once the response begins. */
  commit(): void;
}

/** How long an entry lives after its last use, per TTL. */
const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;
/** A breakpoint finds entries written at up to this many blocks before it. */
const LOOKBACK_BLOCKS = 20;
/** Entries kept before the oldest are evicted, so a long benchmark cannot grow memory forever. */
const MAX_ENTRIES = 50_000;

interface Entry {
  expiresAt: number;
  /** The longest lifetime it was written with; a hit extends it by that much again. */
  ttlMs: number;
}

/**
 * Deterministic model of Anthropic's prompt cache, per model:
 * - A breakpoint (`cache_control` on a tool, system block or message block, or the top-level
 *   automatic one) names the prefix that ends with its block, in the order tools → system →
 *   messages. Prefixes shorter than the model's minimum cacheable length are neither read nor
 *   written.
 * - Reading: each breakpoint looks for a live entry at its own block and up to 20 blocks before
 *   it; the longest prefix found is read (`cache_read_input_tokens`).
 * - Writing, with the API's three positions: A = the prefix read, B = the last 1-hour breakpoint
 *   beyond A (else A), C = the last breakpoint (else A). B − A tokens are written for an hour,
 *   C − B for five minutes, and everything after C is `input_tokens`.
 * - Entries are written (and a hit is refreshed) when the response begins, so concurrent identical
 *   requests all miss, as they do on the API. An entry lives 5 minutes or 1 hour after its last
 *   use, by the server's clock.
 */
export class ClaudePromptCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly enabled: boolean,
    private readonly now: () => number,
  ) {}

  /** Computes the cache split of `layout` for `model`; nothing is stored until `commit()`. */
  lookup(model: string, layout: PromptLayout, minCacheableTokens: number): CacheLookup {
    const uncached: CacheLookup = {
      usage: {
        inputTokens: layout.totalTokens,
        cacheReadInputTokens: 0,
        cacheCreation5mInputTokens: 0,
        cacheCreation1hInputTokens: 0,
      },
      commit: () => {},
    };
    if (!this.enabled) return uncached;

    const keys: string[] = [];
    const ends: number[] = [];
    let hash = createHash('sha256').update(model).digest('hex');
    let end = 0;
    for (const segment of layout.segments) {
      hash = createHash('sha256')
        .update(hash)
        .update('\u0000')
        .update(segment.fingerprint)
        .digest('hex');
      end += segment.tokens;
      keys.push(hash);
      ends.push(end);
    }
    const breakpoints = layout.segments
      .map((s, i) => ({ index: i, ttl: s.breakpoint }))
      .filter((b): b is { index: number; ttl: '5m' | '1h' } => b.ttl !== undefined)
      .filter((b) => ends[b.index]! >= minCacheableTokens);
    if (breakpoints.length === 0) return uncached;

    const at = this.now();
    let readIndex = -1;
    for (const b of breakpoints) {
      for (let j = b.index; j >= Math.max(0, b.index - LOOKBACK_BLOCKS + 1); j--) {
        if (this.alive(keys[j]!, at)) {
          if (j > readIndex) readIndex = j;
          break;
        }
      }
    }
    const a = readIndex === -1 ? 0 : ends[readIndex]!;
    const last = ends[breakpoints.at(-1)!.index]!;
    const c = Math.max(a, last);
    const lastHour = breakpoints.filter((x) => x.ttl === '1h').at(-1);
    const b = Math.max(a, lastHour === undefined ? a : Math.min(ends[lastHour.index]!, c));
    return {
      usage: {
        inputTokens: layout.totalTokens - c,
        cacheReadInputTokens: a,
        cacheCreation1hInputTokens: b - a,
        cacheCreation5mInputTokens: c - b,
      },
      commit: () => {
        const stamp = this.now();
        for (const x of breakpoints) this.store(keys[x.index]!, stamp, TTL_MS[x.ttl]);
        if (readIndex !== -1) {
          const entry = this.entries.get(keys[readIndex]!);
          if (entry) entry.expiresAt = Math.max(entry.expiresAt, stamp + entry.ttlMs);
        }
      },
    };
  }

  /** Forgets every entry. */
  reset(): void {
    this.entries.clear();
  }

  private alive(key: string, at: number): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    if (entry.expiresAt > at) return true;
    this.entries.delete(key);
    return false;
  }

  private store(key: string, at: number, ttlMs: number): void {
    const entry = this.entries.get(key);
    if (entry) {
      entry.ttlMs = Math.max(entry.ttlMs, ttlMs);
      entry.expiresAt = Math.max(entry.expiresAt, at + ttlMs);
      return;
    }
    this.entries.set(key, { expiresAt: at + ttlMs, ttlMs });
    if (this.entries.size > MAX_ENTRIES) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }
}
