import { eagerStream } from './eager.stream.js';
import { ArrivalMeter, type StreamMetering } from './stream.meter.js';

/**
 * Meters a provider's stream as its items arrive and hands them to the caller at the caller's
 * pace, for frameworks whose streams are pulled by their caller (LangChain's chunks): read that
 * way, a stream never read, or read slower than the model writes, is still charged what the
 * provider billed. The provider's stream is read to its end whoever reads it; its reservation is
 * settled then (from the usage it reported, or the output that arrived when it was cut or failed).
 * A caller that leaves early (`break`, `return()`) stops the request (`abort`), and its loop exits
 * once the call is settled from what had arrived: only what the provider writes before it sees the
 * abort escapes the budget. Past the budget's output limit the request is cut and the loop ends,
 * after the items before the cut, with `BudgetExceededError`; so does a stream the budget's cap
 * truncated. `ended` is told when the stream ended by itself (its usage is then final).
 */
export async function* meterEagerly<Item>(
  source: AsyncIterable<Item>,
  metering: StreamMetering,
  abort: () => void,
  ended: () => void = () => {},
): AsyncGenerator<Item> {
  // Once the request is aborted (the caller left, or the budget cut it), a source that then ends
  // quietly has not ended by itself: its usage so far is partial (Claude's output comes last), so
  // the call is settled from what arrived, or granted, never from that partial report.
  let aborted = false;
  const abortRequest = () => {
    aborted = true;
    abort();
  };
  const meter = new ArrivalMeter(metering, abortRequest);
  async function* arrived(): AsyncGenerator<Item> {
    try {
      for await (const item of source) {
        if (!meter.observe(item)) return;
        yield item;
      }
      if (!aborted) ended();
    } finally {
      await metering.settle();
    }
  }
  // Leaving the loop below cancels the eager stream: the request is aborted, and the cancel
  // resolves once `arrived` has ended and settled.
  const items = eagerStream(arrived(), () => Promise.resolve(abortRequest()));
  for await (const item of items) yield item;
  const stop = meter.stopped;
  if (stop) throw await stop;
  if (metering.budgetCut && metering.observer.truncated) throw await metering.stopped('truncated');
}
