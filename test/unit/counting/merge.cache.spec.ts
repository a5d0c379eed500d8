import { describe, expect, it } from 'vitest';
import { MergeCache } from '../../../lib/counting/merge.cache.js';
import { seededRandom } from './token-corpus.fixture.js';

// What MergeCache stands in for: gpt-tokenizer's Map, in insertion (recency) order, here also
// bounded in characters (the oldest keys go first, never the one just set).
class ReferenceCache {
  private readonly map = new Map<string, unknown>();
  private chars = 0;

  constructor(private readonly maxChars: number) {}

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): unknown {
    return this.map.get(key);
  }

  delete(key: string): boolean {
    if (!this.map.delete(key)) return false;
    this.chars -= key.length;
    return true;
  }

  set(key: string, value: unknown): void {
    this.delete(key);
    this.map.set(key, value);
    this.chars += key.length;
    for (const oldest of this.map.keys()) {
      if (this.chars <= this.maxChars || oldest === key) break;
      this.delete(oldest);
    }
  }

  oldest(): string | undefined {
    return this.map.keys().next().value;
  }
}

describe('MergeCache', () => {
  it('answers as a Map in recency order, bounded in characters, over random operations', () => {
    const keys = Array.from({ length: 12 }, (_, i) => `${'k'.repeat(1 + (i % 5))}${i}`);
    for (let seed = 1; seed <= 300; seed++) {
      const next = seededRandom(seed);
      const cache = new MergeCache(25);
      const reference = new ReferenceCache(25);
      for (let step = 0; step < 300; step++) {
        const key = keys[Math.floor(next() * keys.length)];
        const roll = next();
        const where = `seed ${seed}, step ${step}`;
        if (roll < 0.2) {
          expect(cache.has(key), where).toBe(reference.has(key));
        } else if (roll < 0.35) {
          expect(cache.get(key), where).toBe(reference.get(key));
        } else if (roll < 0.5) {
          expect(cache.delete(key), where).toBe(reference.delete(key));
        } else if (roll < 0.7) {
          cache.set(key, step);
          reference.set(key, step);
        } else if (roll < 0.9) {
          // gpt-tokenizer's read of a cached piece: has, get, then delete and set to refresh it.
          expect(cache.has(key), where).toBe(reference.has(key));
          if (reference.has(key)) {
            const value = cache.get(key);
            expect(value, where).toBe(reference.get(key));
            cache.delete(key);
            cache.set(key, value);
            reference.set(key, value);
          }
        } else {
          expect(cache.keys().next().value, where).toBe(reference.oldest());
        }
        expect(cache.size, where).toBe(reference.size);
      }
    }
  });
});
