import type { ServerResponse } from 'node:http';

/** Longest delay one `setTimeout` honours; longer ones fire after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Tracks whether the client of one exchange is still there. Billing depends on it: the fake stops
 * generating, and stops billing, as soon as the client goes away.
 */
export class ClientConnection {
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(readonly res: ServerResponse) {
    // 'close' also fires after a normal end; only a close before the response finished means the
    // client aborted, timed out or lost the connection.
    res.on('close', () => {
      if (!res.writableFinished) this.closed = true;
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    });
    // A write racing a client abort can emit EPIPE/ECONNRESET; the close handler already records
    // the abort, and an unhandled 'error' would crash the test process.
    res.on('error', () => {});
  }

  /** True once the client disconnected before the response finished. */
  get gone(): boolean {
    return this.closed || this.res.destroyed;
  }

  /**
   * Waits `ms` milliseconds (or one event-loop turn when 0, so aborts get a chance to be seen).
   * Waits longer than Node's timer limit (2³¹−1 ms, which `setTimeout` turns into 1 ms) are
   * chained timers, so a delay of 2³¹ ms really waits that long.
   * @returns false if the client went away meanwhile.
   */
  pause(ms: number): Promise<boolean> {
    if (this.gone) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const done = () => {
        clearTimeout(timer);
        clearImmediate(immediate);
        this.waiters.delete(done);
        resolve(!this.gone);
      };
      const wait = (left: number) => {
        timer =
          left > MAX_TIMER_MS
            ? setTimeout(() => wait(left - MAX_TIMER_MS), MAX_TIMER_MS)
            : setTimeout(done, left);
      };
      if (ms > 0) wait(ms);
      else immediate = setImmediate(done);
      this.waiters.add(done);
    });
  }

  /**
   * Writes `data` if the client is still there, then waits for the socket buffer to drain when it
   * is full, so a slow reader slows the fake down instead of the fake buffering the whole reply.
   * @returns false if the client is gone (nothing was written).
   */
  async write(data: string): Promise<boolean> {
    if (this.gone) return false;
    if (this.res.write(data)) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.waiters.delete(done);
        resolve();
      };
      this.res.once('drain', done);
      this.waiters.add(done);
    });
    return !this.gone;
  }

  /**
   * Drops the connection without finishing the response, as a crashed upstream would. The socket
   * is half-closed after what was already written is flushed, so the client receives exactly the
   * chunks that were billed and then sees a truncated body, never the end of the stream.
   */
  cut(): void {
    this.closed = true;
    const socket = this.res.socket;
    if (!socket) {
      this.res.destroy();
      return;
    }
    socket.end(() => socket.destroy());
  }
}
