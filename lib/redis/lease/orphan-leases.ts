// Retries of a release of a lease whose acquisition reply was lost: 50 ms doubling to 2 s.
const RETRY_MS = [50, 2_000];

/**
 * Leases whose acquisition reply was lost: the reserve may still run (late, or resent on
 * reconnect), holding a lease this replica does not know of until its TTL. Each is released (a
 * no-op for one never reserved), retried until Redis answers.
 */
export class OrphanLeases {
  /** id → when it was acquired. */
  private readonly orphans = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly release: (id: string, acquiredAt: number) => Promise<unknown>) {}

  get size(): number {
    return this.orphans.size;
  }

  add(id: string, acquiredAt: number): void {
    this.orphans.set(id, acquiredAt);
    this.retry(RETRY_MS[0]);
  }

  /** Releases every orphan; resolves whether Redis took them all. */
  async releaseAll(): Promise<boolean> {
    const done = await Promise.all(
      [...this.orphans].map(([id, acquiredAt]) =>
        this.release(id, acquiredAt).then(
          () => this.orphans.delete(id),
          () => false,
        ),
      ),
    );
    return done.every(Boolean);
  }

  private retry(delay: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.releaseAll().then((all) => {
        if (!all) this.retry(Math.min(delay * 2, RETRY_MS[1]));
      });
    }, delay);
    this.timer.unref();
  }
}
