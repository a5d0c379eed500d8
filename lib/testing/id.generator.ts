/**
 * Counter-based ids, one counter per prefix, so a test run produces the same ids every time
 * (`chatcmpl-fake-000001`, `resp_fake_000001`, ...) and snapshots stay stable.
 */
export class IdGenerator {
  private readonly counters = new Map<string, number>();

  /** Returns the next id for `prefix`, e.g. `next('resp_fake_')` → `'resp_fake_000001'`. */
  next(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, n);
    return `${prefix}${String(n).padStart(6, '0')}`;
  }

  /** Restarts every counter at 1. */
  reset(): void {
    this.counters.clear();
  }
}
