// The merge cache gpt-tokenizer.encoder.ts puts in place of gpt-tokenizer's own (see there why).

interface MergeNode {
  readonly key: string;
  value: unknown;
  newer: MergeNode | undefined;
  older: MergeNode | undefined;
}

/**
 * The subset of `Map` gpt-tokenizer 4's merge cache uses (`has`, `get`, `set`, `delete`, `size`,
 * and `keys().next()` for the oldest key), with recency in a linked list so that finding the
 * oldest entry never iterates the Map. Recency is insertion order, as with the Map it replaces.
 *
 * gpt-tokenizer reads a cached piece as `has`, `get`, `delete`, `set` (the delete and set refresh
 * its recency), for every piece of every text that is not a single token. Each of those is a hash
 * lookup on a Map, so the node `has` found is kept for the `get` and `delete` that follow, and a
 * deleted node's Map entry is removed only once the next operation is not the `set` that puts it
 * back: a cache hit costs one lookup instead of five and allocates nothing.
 */
export class MergeCache {
  private readonly nodes = new Map<string, MergeNode>();
  private newest: MergeNode | undefined;
  private oldest: MergeNode | undefined;
  private chars = 0;
  /** The node the last `has` found. */
  private found: MergeNode | undefined;
  /** A node deleted from the list whose Map entry is still there (see the class comment). */
  private deleted: MergeNode | undefined;

  /** @param maxChars the most characters kept, summed over the keys (the oldest go first). */
  constructor(private readonly maxChars: number) {}

  get size(): number {
    this.dropDeleted();
    return this.nodes.size;
  }

  has(key: string): boolean {
    this.dropDeleted();
    this.found = this.nodes.get(key);
    return this.found !== undefined;
  }

  get(key: string): unknown {
    this.dropDeleted();
    return this.lookup(key)?.value;
  }

  set(key: string, value: unknown): this {
    let node = this.deleted;
    if (node !== undefined && node.key === key) {
      // Put back at once after its delete: gpt-tokenizer refreshing the recency of a hit.
      this.deleted = undefined;
      this.chars += key.length;
    } else {
      this.dropDeleted();
      node = this.nodes.get(key);
      if (node !== undefined) {
        this.unlink(node);
      } else {
        node = { key, value, newer: undefined, older: undefined };
        this.nodes.set(key, node);
        this.chars += key.length;
      }
    }
    node.value = value;
    node.older = this.newest;
    if (this.newest !== undefined) this.newest.newer = node;
    this.newest = node;
    this.oldest ??= node;
    while (this.chars > this.maxChars && this.oldest !== node) {
      this.remove(this.oldest as MergeNode);
    }
    return this;
  }

  delete(key: string): boolean {
    this.dropDeleted();
    const node = this.lookup(key);
    if (node === undefined) return false;
    this.unlink(node);
    this.chars -= key.length;
    this.deleted = node;
    if (this.found === node) this.found = undefined;
    return true;
  }

  clear(): void {
    this.nodes.clear();
    this.newest = undefined;
    this.oldest = undefined;
    this.chars = 0;
    this.found = undefined;
    this.deleted = undefined;
  }

  /** Only `next()` of the first key is used: the oldest entry's. */
  keys(): { next(): { value: string | undefined; done: boolean } } {
    this.dropDeleted();
    const oldest = this.oldest;
    return { next: () => ({ value: oldest?.key, done: oldest === undefined }) };
  }

  private lookup(key: string): MergeNode | undefined {
    const found = this.found;
    return found !== undefined && found.key === key ? found : this.nodes.get(key);
  }

  /** Finishes a delete whose node was not put back. */
  private dropDeleted(): void {
    const node = this.deleted;
    if (node === undefined) return;
    this.deleted = undefined;
    this.nodes.delete(node.key);
  }

  private remove(node: MergeNode): void {
    this.unlink(node);
    this.nodes.delete(node.key);
    this.chars -= node.key.length;
    if (this.found === node) this.found = undefined;
  }

  private unlink(node: MergeNode): void {
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.newest = node.older;
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.oldest = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }
}
