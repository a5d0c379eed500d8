import {
  type Arrivals,
  meterItems,
  relayItems,
  type StreamMetering,
} from '../../metering/stream.meter.js';

/** The parts of the SDK's `Stream` the wrapper relies on (all public). */
export interface SdkStream<Item> extends AsyncIterable<Item> {
  controller: AbortController;
}

type StreamConstructor<S> = new (
  iterator: () => AsyncIterator<unknown>,
  controller: AbortController,
  client?: unknown,
) => S;

// A stream the caller dropped before the end is settled (its estimate) and its request aborted
// when it is garbage collected; at worst the reservation lapses after the ledger's
// reservationTtl. Iterators keep their stream reachable, so a `for await` over a stream nobody
// else holds is never cut short.
const abandoned = new FinalizationRegistry<() => void>((cleanup) => cleanup());

/** Whether `data` is an SDK `Stream` (Stainless-generated SDKs: openai, @anthropic-ai/sdk). */
export function isSdkStream(data: unknown): data is SdkStream<unknown> {
  return (
    typeof data === 'object' &&
    data !== null &&
    Symbol.asyncIterator in data &&
    (data as { controller?: unknown }).controller instanceof AbortController
  );
}

/**
 * Returns a stream of the same class, controller and client whose iterator meters `stream` (see
 * `meterItems`): past the budget the request is aborted through the stream's controller and the
 * loop ends with `BudgetExceededError`; however the iteration ends, the reservation is settled
 * before the loop exits. `for await`, `tee()` and `toReadableStream()` all go through that iterator.
 * With `arrivals`, the body is metered as it arrives and the iterator only relays it (see
 * `relayItems`).
 */
export function meterSdkStream<S extends SdkStream<unknown>>(
  stream: S,
  metering: StreamMetering,
  client: unknown,
  arrivals?: Arrivals,
): S {
  const token = {};
  const owner: Owner = { stream: undefined };
  const Stream = stream.constructor as StreamConstructor<S>;
  const metered = new Stream(
    iteratorOf(stream, metering, owner, () => abandoned.unregister(token), arrivals),
    stream.controller,
    client,
  );
  owner.stream = metered;
  const requestId = (stream as { _request_id?: unknown })._request_id;
  if (requestId !== undefined) {
    Object.defineProperty(metered, '_request_id', { value: requestId, enumerable: false });
  }
  abandoned.register(metered, cleanupOf(stream.controller, metering), token);
  // A stream aborted while nobody is pulling it (never iterated, or an iterator left pending)
  // has no loop whose end would settle it: the abort settles it, at what was seen so far.
  stream.controller.signal.addEventListener('abort', () => void metering.settle(), { once: true });
  return metered;
}

/** Holds the metered stream for as long as one of its iterators is alive. */
interface Owner {
  stream: object | undefined;
}

// In its own function so the closure captures the controller and metering only: a cleanup that
// reached the metered stream would keep it from ever being collected.
function cleanupOf(controller: AbortController, metering: StreamMetering): () => void {
  return () => {
    controller.abort();
    void metering.settle();
  };
}

function iteratorOf(
  stream: SdkStream<unknown>,
  metering: StreamMetering,
  owner: Owner,
  onSettled: () => void,
  arrivals: Arrivals | undefined,
): () => AsyncIterator<unknown> {
  let claimed = false;
  return () => {
    // A second iteration gets the SDK's own "consumed stream" error, and must not settle early.
    if (claimed) return stream[Symbol.asyncIterator]();
    claimed = true;
    const items = arrivals
      ? relayItems(stream, metering, arrivals)
      : meterItems(stream, metering, () => stream.controller.abort());
    const finish = arrivals ? () => arrivals.leave() : () => metering.settle();
    return settlingOnReturn(iterate(items, owner, onSettled), finish);
  };
}

// A generator closed before its first `next()` never runs its body, so its `finally` never
// settles: `return()` and `throw()` settle themselves (`finish`).
function settlingOnReturn(
  generator: AsyncGenerator<unknown>,
  finish: () => Promise<void>,
): AsyncGenerator<unknown> {
  const settled = async <T>(result: Promise<T>): Promise<T> => {
    try {
      return await result;
    } finally {
      await finish();
    }
  };
  return {
    next: (...args) => generator.next(...args),
    return: (value) => settled(generator.return(value)),
    throw: (error) => settled(generator.throw(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  } as AsyncGenerator<unknown>;
}

async function* iterate(
  items: AsyncGenerator<unknown>,
  owner: Owner,
  onSettled: () => void,
): AsyncGenerator<unknown> {
  try {
    yield* items;
  } finally {
    onSettled();
    owner.stream = undefined;
  }
}
