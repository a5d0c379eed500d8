import type { BudgetExceededError } from '../errors.js';
import type { StreamObserver } from './endpoint.interface.js';
import type { OutputCounter } from './output.counter.js';

/** How one streamed call is metered; built by the call, used by the stream wrappers below. */
export interface StreamMetering {
  readonly observer: StreamObserver;
  readonly counter: OutputCounter;
  /** Output tokens (all choices together) after which the stream is stopped; `undefined`: never. */
  readonly outputLimit: number | undefined;
  /** Whether a cut by the output cap means the budget cut the answer short (it set the cap). */
  readonly budgetCut: boolean;
  /** Settles the reservation from the reported usage, else from the count (once; later calls no-op). */
  settle(): Promise<void>;
  /** Settles, publishes `refused` and returns the error that ends the caller's loop. */
  stopped(reason: 'overrun' | 'truncated'): Promise<BudgetExceededError>;
}

/** The parts of the SDK's `Stream` the wrapper relies on (all public). */
interface SdkStream<Item> extends AsyncIterable<Item> {
  controller: AbortController;
}

type StreamConstructor<S> = new (
  iterator: () => AsyncIterator<unknown>,
  controller: AbortController,
  client?: unknown,
) => S;

// A stream the caller dropped before the end is settled (prompt + output received) and its
// request aborted when it is garbage collected; at worst the reservation lapses after the
// ledger's reservationTtl. Iterators keep their stream reachable, so a `for await` over a stream
// nobody else holds is never cut short.
const abandoned = new FinalizationRegistry<() => void>((cleanup) => cleanup());

/**
 * Returns a stream of the same class, controller and client whose iterator meters `stream`: every
 * item is observed (text counted, usage kept, the injected usage chunk hidden); past
 * `outputLimit` the request is aborted and the loop ends with `BudgetExceededError`; however the
 * iteration ends (done, `break`, error, abort) the reservation is settled before the loop exits.
 * `for await`, `tee()` and `toReadableStream()` all go through that iterator.
 */
export function meterStream<S extends SdkStream<unknown>>(
  stream: S,
  metering: StreamMetering,
  client: unknown,
): S {
  const token = {};
  const owner: Owner = { stream: undefined };
  const Stream = stream.constructor as StreamConstructor<S>;
  const metered = new Stream(
    iteratorOf(stream, metering, owner, () => abandoned.unregister(token)),
    stream.controller,
    client,
  );
  owner.stream = metered;
  const requestId = (stream as { _request_id?: unknown })._request_id;
  if (requestId !== undefined) {
    Object.defineProperty(metered, '_request_id', { value: requestId, enumerable: false });
  }
  abandoned.register(metered, cleanupOf(stream.controller, metering), token);
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
): () => AsyncIterator<unknown> {
  let claimed = false;
  return () => {
    // A second iteration gets the SDK's own "consumed stream" error, and must not settle early.
    if (claimed) return stream[Symbol.asyncIterator]();
    claimed = true;
    return iterate(stream, metering, owner, onSettled);
  };
}

async function* iterate(
  stream: SdkStream<unknown>,
  metering: StreamMetering,
  owner: Owner,
  onSettled: () => void,
): AsyncGenerator<unknown> {
  const { observer, counter, outputLimit } = metering;
  try {
    for await (const item of stream) {
      const visible = observer.observe(item, counter);
      if (outputLimit !== undefined && counter.exceeds(outputLimit)) {
        stream.controller.abort();
        throw await metering.stopped('overrun');
      }
      if (visible) yield item;
    }
    if (metering.budgetCut && observer.truncated) throw await metering.stopped('truncated');
  } finally {
    await metering.settle();
    onSettled();
    owner.stream = undefined;
  }
}

/**
 * Meters a copy of a raw streamed body (for `asResponse()` callers, who read the bytes
 * themselves): observes its server-sent events, aborts the request through `abort` past the
 * limit, and settles when the copy ends, whatever happens to it.
 */
export async function meterRawStream(
  body: ReadableStream<Uint8Array> | null,
  metering: StreamMetering,
  abort: () => void,
): Promise<void> {
  const { observer, counter, outputLimit } = metering;
  try {
    for await (const item of serverSentData(body)) {
      observer.observe(item, counter);
      if (outputLimit !== undefined && counter.exceeds(outputLimit)) {
        abort();
        await metering.stopped('overrun');
        return;
      }
    }
  } catch {
    // The caller's own copy of the body fails the same way; the count so far is charged below.
  } finally {
    await metering.settle();
  }
}

/** The JSON payloads of a server-sent event stream, up to `[DONE]`. */
async function* serverSentData(body: ReadableStream<Uint8Array> | null): AsyncGenerator<unknown> {
  if (!body) return;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0 || (done && buffer.length > 0)) {
        const end = newline >= 0 ? newline : buffer.length;
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        } else if (line === '' && data.length > 0) {
          const payload = data.join('\n');
          data = [];
          if (payload.startsWith('[DONE]')) return;
          yield JSON.parse(payload);
        }
      }
      if (done) return;
    }
  } finally {
    // Frees what the tee buffered for this copy; the caller's copy reads on unaffected.
    reader.cancel().catch(() => {});
  }
}
