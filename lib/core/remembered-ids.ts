/**
 * Reservation ids remembered per ledger id, each until a time: written on every commit, read only
 * for a commit of a reservation the store no longer holds. A write appends to a log (no hashing,
 * no table to grow); lookups index what was appended since the last one, so nothing is indexed
 * while nothing is looked up. Expired ids are dropped by {@link forgetExpired}, which also drops
 * the index (it is rebuilt on the next lookup), so between lookups the log is all that is kept.
 * The same answers as a `Map<ledgerId, Map<id, until>>` where a later write replaces an earlier one.
 */
export class RememberedIds {
  /** Flattened (ledgerId, id, until) triples, in the order they were written. */
  private log: (string | number)[] = [];
  /** How much of the log the index covers. */
  private indexed = 0;
  private readonly index = new Map<string, Map<string, number>>();

  /** Remembers `id` of the ledger `ledgerId` until `until` (epoch ms). */
  remember(ledgerId: string, id: string, until: number): void {
    this.log.push(ledgerId, id, until);
  }

  /** Until when `id` of `ledgerId` is remembered, or `undefined`. */
  until(ledgerId: string, id: string): number | undefined {
    this.catchUp();
    return this.index.get(ledgerId)?.get(id);
  }

  /** Forgets every id remembered until `now` or before. */
  forgetExpired(now: number): void {
    this.catchUp();
    const log: (string | number)[] = [];
    for (const [ledgerId, ids] of this.index) {
      for (const [id, until] of ids) {
        if (until <= now) ids.delete(id);
        else log.push(ledgerId, id, until);
      }
      if (ids.size === 0) this.index.delete(ledgerId);
    }
    this.log = log;
    this.index.clear();
    this.indexed = 0;
  }

  private catchUp(): void {
    const { log } = this;
    for (let i = this.indexed; i < log.length; i += 3) {
      const ledgerId = log[i] as string;
      let ids = this.index.get(ledgerId);
      if (ids === undefined) this.index.set(ledgerId, (ids = new Map()));
      ids.set(log[i + 1] as string, log[i + 2] as number);
    }
    this.indexed = log.length;
  }
}
