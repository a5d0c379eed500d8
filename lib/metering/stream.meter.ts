import type { BudgetExceededError } from '../errors.js';
import type { OutputCounter } from './output.counter.js';
import type { OutputSink, StreamObserver } from './provider-endpoint.interface.js';

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

/**
 * Meters a stream as its items arrive at the process, whatever the pace of the caller reading
 * them, so a caller who leaves early is charged everything that had arrived (the provider billed
 * it). Past `outputLimit` the request is cut (`cut`) and the item that took it past is refused:
 * the caller's loop ends with {@link stopped}.
 */
export class ArrivalMeter {
  private stop: Promise<BudgetExceededError> | undefined;

  constructor(
    private readonly metering: StreamMetering,
    private readonly cut: () => void,
  ) {}

  /** The error that ends the caller's loop once the budget cut the stream; set at the cut. */
  get stopped(): Promise<BudgetExceededError> | undefined {
    return this.stop;
  }

  /** Observes one arrived item; `false` when it took the output past the limit (the cut). */
  observe(item: unknown): boolean {
    if (this.stop) return false;
    const { observer, counter, outputLimit } = this.metering;
    observer.observe(item, counter);
    if (outputLimit === undefined || !counter.exceeds(outputLimit)) return true;
    this.cut();
    this.stop = this.metering.stopped('overrun');
    // Read by the caller's loop if there is one; a store failure must not go unhandled meanwhile.
    this.stop.catch(() => {});
    return false;
  }
}

/** How the caller's loop over a stream metered on arrival (see {@link ArrivalMeter}) ends. */
export interface Arrivals {
  readonly meter: ArrivalMeter;
  /** A fresh observer for the caller's items: it hides what Tokencap asked for, counts nothing. */
  readonly filter: StreamObserver;
  /** Stops the request if it is still going (the caller left); resolves once the call is settled. */
  leave(): Promise<void>;
}

const NO_OUTPUT: OutputSink = { add: () => {} };

/**
 * The caller's loop over a stream {@link ArrivalMeter} meters: hides an injected usage item, ends
 * with the budget's error where the stream was cut or truncated by the budget's cap, and however
 * the loop ends (done, `break`, error, abort) stops the request and settles before it exits.
 */
export async function* relayItems<Item>(
  source: AsyncIterable<Item>,
  metering: StreamMetering,
  arrivals: Arrivals,
): AsyncGenerator<Item> {
  try {
    for await (const item of source) {
      if (arrivals.filter.observe(item, NO_OUTPUT)) yield item;
    }
    const stop = arrivals.meter.stopped;
    if (stop) throw await stop;
    if (metering.budgetCut && metering.observer.truncated)
      throw await metering.stopped('truncated');
  } finally {
    await arrivals.leave();
  }
}
