import { httpStatusOf, neverConnected } from '../../metering/connection-failure.js';
import { eagerStream } from '../../metering/eager.stream.js';
import type { MeteredCall } from '../../metering/metered-call.js';
import { meterItems } from '../../metering/stream.meter.js';

// LlamaIndex sends a stream's request on its first `next()`: a stream dropped before that sent
// nothing, and is released when it is garbage collected.
const unread = new FinalizationRegistry<() => void>((release) => release());

const DONE = { done: true, value: undefined } as const;

/**
 * A LlamaIndex chat stream, metered. Nothing happens until its first `next()`, which sends the
 * request (as LlamaIndex does); from then on the provider's chunks are read and metered as they
 * arrive, whatever the pace of the caller, and wait in memory until read (see `eagerStream`). So:
 * - a caller that leaves early (`break`, `return()`) aborts the request and is charged everything
 *   that had reached the process, which the provider billed, not only what it read;
 * - a stream closed with `return()` before its first `next()`, or dropped unread and collected, sent
 *   nothing: released;
 * - a request the provider refused (an HTTP error status) or whose connection was never made is
 *   released: nothing was billed;
 * - past the budget the request is aborted and the caller's loop ends with `BudgetExceededError`,
 *   after the chunks that came before the cut.
 * Every way out of the caller's loop resolves once the call is settled.
 */
export function meterChatStream<Chunk>(
  chunks: AsyncIterable<Chunk>,
  call: MeteredCall,
  abort: AbortController,
): AsyncGenerator<Chunk> {
  const token = {};
  let reader: ReadableStreamDefaultReader<Chunk> | undefined;
  let closed = false;

  const start = () => {
    unread.unregister(token);
    const items = meterItems(releasedIfRefused(chunks, call), call.streamMetering(), () =>
      abort.abort(),
    );
    // Cancelled when the caller leaves: the abort ends the request, and `items` with it.
    reader = eagerStream(items, async () => abort.abort()).getReader();
    return reader;
  };
  const close = async (): Promise<IteratorResult<Chunk>> => {
    if (closed) return DONE;
    closed = true;
    if (reader) {
      // Rejects only when the stream had already failed: the caller's loop saw that error.
      await reader.cancel().catch(() => {});
    } else {
      unread.unregister(token);
      await call.release();
    }
    return DONE;
  };

  const stream = {
    async next(): Promise<IteratorResult<Chunk>> {
      if (closed) return DONE;
      const read = await (reader ?? start()).read();
      if (!read.done) return read;
      closed = true;
      return DONE;
    },
    return: close,
    async throw(error: unknown): Promise<IteratorResult<Chunk>> {
      await close();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  unread.register(stream, releaseOf(call), token);
  return stream as AsyncGenerator<Chunk>;
}

// In its own function so the closure holds the call only: one that reached the stream would keep
// it from ever being collected.
function releaseOf(call: MeteredCall): () => void {
  return () => void call.release();
}

/**
 * Passes the chunks through; when the stream fails before its first chunk with an HTTP error
 * status, or a connection never made, releases the call (the provider billed nothing) before the
 * error goes on. Any other failure is settled by the metering: the request may have been billed.
 */
async function* releasedIfRefused<Chunk>(
  chunks: AsyncIterable<Chunk>,
  call: MeteredCall,
): AsyncGenerator<Chunk> {
  let answered = false;
  try {
    for await (const chunk of chunks) {
      answered = true;
      yield chunk;
    }
  } catch (error) {
    if (!answered && (httpStatusOf(error) !== undefined || neverConnected(error))) {
      await call.release();
    }
    throw error;
  }
}
