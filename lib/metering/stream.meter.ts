import type { BudgetExceededError } from '../errors.js';
import type { OutputCounter } from './output.counter.js';
import type { StreamObserver } from './provider-endpoint.interface.js';

/** How one streamed call is metered; built by the metered call, used by the stream readers below. */
export interface StreamMetering {
  readonly observer: StreamObserver;
  readonly counter: OutputCounter;
  /** Output tokens (all choices together) after which the stream is cut; `undefined`: never. */
  readonly outputLimit: number | undefined;
  /** Whether a cut by the output cap means the budget cut the answer short (it set the cap). */
  readonly budgetCut: boolean;
  /** Settles the reservation from the reported usage, else from an estimate (once; later calls no-op). */
  settle(): Promise<void>;
  /** Settles, publishes `refused` and returns the error that ends the caller's loop. */
  stopped(reason: 'overrun' | 'truncated'): Promise<BudgetExceededError>;
}

/**
 * Meters a stream of provider items for the caller who iterates it: every item is observed (text
 * counted, usage kept, an injected usage item hidden); past `outputLimit` the stream is cut (`cut`
 * aborts the request) and the loop ends with `BudgetExceededError`; however the iteration ends
 * (done, `break`, error, abort) the reservation is settled before the loop exits.
 */
export async function* meterItems<Item>(
  source: AsyncIterable<Item>,
  metering: StreamMetering,
  cut: () => void,
): AsyncGenerator<Item> {
  const { observer, counter, outputLimit } = metering;
  try {
    for await (const item of source) {
      const visible = observer.observe(item, counter);
      if (outputLimit !== undefined && counter.exceeds(outputLimit)) {
        cut();
        throw await metering.stopped('overrun');
      }
      if (visible) yield item;
    }
    if (metering.budgetCut && observer.truncated) throw await metering.stopped('truncated');
  } finally {
    await metering.settle();
  }
}

/**
 * Meters a copy of a stream nobody else observes (the raw body an `asResponse()` caller reads):
 * observes every item, cuts the request past the limit, and settles when the copy ends, whatever
 * happens to it. Never rejects: the caller's own copy fails the same way.
 */
export async function meterCopy(
  source: AsyncIterable<unknown>,
  metering: StreamMetering,
  cut: () => void,
): Promise<void> {
  const { observer, counter, outputLimit } = metering;
  try {
    for await (const item of source) {
      observer.observe(item, counter);
      if (outputLimit !== undefined && counter.exceeds(outputLimit)) {
        cut();
        await metering.stopped('overrun');
        return;
      }
    }
  } catch {
    // The count so far is charged below.
  } finally {
    await metering.settle();
  }
}
