/** The most settlements waiting for the store at once; past it the oldest is given up (and reported). */
export const MAX_PENDING_SETTLEMENTS = 10_000;

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 5_000;

/**
 * Settlements (commits, releases) the store did not take, retried in order with exponential
 * backoff (50 ms doubling to 5 s) on one unref'd timer until it takes them. Memory is bounded: at
 * most {@link MAX_PENDING_SETTLEMENTS} wait at once.
 */
export class SettlementRetryQueue<T> {
  // A Set keeps insertion order and deletes in O(1), whichever job the store takes.
  private readonly jobs = new Set<T>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delay = FIRST_DELAY_MS;
  private draining: Promise<void> | undefined;
  private stopped = false;

  /**
   * @param attempt writes one job; resolves (or returns) whether the store took it.
   * @param dropped receives a job given up: the queue was full (the oldest goes), or closed.
   */
  constructor(
    private readonly attempt: (job: T) => boolean | Promise<boolean>,
    private readonly dropped: (job: T, reason: 'full' | 'closed') => void,
    private readonly max = MAX_PENDING_SETTLEMENTS,
  ) {}

  get size(): number {
    return this.jobs.size;
  }

  /** Queues a job for retry (after the backoff delay); after close() it is given up at once. */
  add(job: T): void {
    if (this.stopped) {
      this.dropped(job, 'closed');
      return;
    }
    if (this.jobs.size >= this.max) {
      const oldest = this.jobs.values().next().value as T;
      this.jobs.delete(oldest);
      this.dropped(oldest, 'full');
    }
    this.jobs.add(job);
    this.schedule();
  }

  /** Retries at once (the store just answered something else). */
  kick(): void {
    if (this.jobs.size === 0 || this.draining || this.stopped) return;
    this.delay = FIRST_DELAY_MS;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.drain();
  }

  /**
   * Retries until every job is written or `deadline` (epoch ms, on `now`) passes, then stops for
   * good and returns the jobs left unwritten (removed from the queue).
   */
  async close(deadline: number, now: () => number = Date.now): Promise<T[]> {
    while (this.jobs.size > 0 && now() < deadline) {
      const round = this.drain();
      const wait = deadline - now();
      if (!(await settlesWithin(round, wait))) break;
      if (this.jobs.size > 0) await sleep(Math.min(this.delay, Math.max(0, deadline - now())));
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const left = [...this.jobs];
    this.jobs.clear();
    return left;
  }

  private schedule(): void {
    if (this.timer || this.draining || this.stopped || this.jobs.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, this.delay);
    this.timer.unref?.();
  }

  private drain(): Promise<void> {
    if (this.draining) return this.draining;
    // Set before the first attempt runs: a store that answers synchronously reports success
    // (which kicks the queue) before drainOnce has returned its promise.
    let done!: () => void;
    this.draining = new Promise<void>((resolve) => (done = resolve));
    void this.drainOnce().finally(() => {
      this.draining = undefined;
      done();
      this.schedule();
    });
    return this.draining;
  }

  private async drainOnce(): Promise<void> {
    for (const job of this.jobs) {
      let written: boolean;
      try {
        const result = this.attempt(job);
        written = typeof result === 'boolean' ? result : await result;
      } catch {
        written = false;
      }
      if (!written) {
        this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
        return;
      }
      this.jobs.delete(job);
    }
    this.delay = FIRST_DELAY_MS;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settles within `ms` (it keeps running either way). */
function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}
