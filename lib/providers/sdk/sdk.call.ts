import { ArrivalMeter, meterCopy } from '../../metering/stream.meter.js';
import type { MeteredCall } from '../../metering/metered-call.js';
import type { Parsed } from './metered-api-promise.js';
import type { ApiPromiseLike, StartedCall } from './sdk-call.types.js';
import type { SdkRetryPolicy } from './sdk-retry.policy.js';
import { isSdkStream, meterSdkStream, type SdkStream } from './sdk-stream.meter.js';
import { tapServerSentEvents } from './sse-body.tap.js';
import { serverSentData } from './sse.reader.js';

/** One attempt sent to the provider through the SDK, settled once however the caller reads it. */
export class SdkCall implements StartedCall {
  /** Whether a response arrived (its body may still fail to parse); false on HTTP and network errors. */
  private readonly arrived: Promise<boolean>;
  private answered = false;
  /** Whether an `asResponse()` caller got the raw body (a stream is then not tapped again). */
  private rawHandedOut = false;
  private onAnswer: (() => void) | undefined;

  constructor(
    private readonly client: unknown,
    private readonly call: MeteredCall,
    private readonly real: ApiPromiseLike<unknown>,
    private readonly abort: AbortController | undefined,
    private readonly policy: SdkRetryPolicy,
    /** Whether the request may have left the process (it was handed to fetch). */
    private readonly mayHaveLeft: () => boolean,
  ) {
    const answer = (arrived: boolean) => {
      this.answered = true;
      // Dropped once run: it holds the caller's promise, which must stay collectable.
      const onAnswer = this.onAnswer;
      this.onAnswer = undefined;
      onAnswer?.();
      return arrived;
    };
    this.arrived = real.asResponse().then(
      () => answer(true),
      () => answer(false),
    );
  }

  whenAnswered(fn: () => void): void {
    if (this.answered) fn();
    else this.onAnswer = fn;
  }

  /** The error that ended the attempt before a response arrived, else `undefined`. */
  failure(): Promise<unknown> {
    return this.real.asResponse().then(
      () => undefined,
      (error: unknown) => error ?? new Error('Request failed.'),
    );
  }

  /** Settles an attempt that ended without a response, by how it ended (see `SdkRetryPolicy.failureOf`). */
  async settleFailure(error: unknown): Promise<void> {
    switch (this.policy.failureOf(error, this.mayHaveLeft(), this.call.plan.stream)) {
      case 'charge-reservation':
        return this.call.chargeReservation();
      case 'charge-estimate':
        return this.call.chargeEstimate();
      default:
        return this.call.release();
    }
  }

  // Called once (meteredCreate memoises it). Chained rather than awaited: this runs on every
  // call, and each async layer costs promises.
  parse(): Promise<Parsed<unknown>> {
    let parsing: PromiseLike<Parsed<unknown>>;
    try {
      parsing = unwrap(this.real);
    } catch (error) {
      parsing = Promise.reject(error);
    }
    const accepted = parsing.then(
      (parsed) => this.accept(parsed),
      (error: unknown) =>
        this.failed(error).then(() => {
          throw error;
        }),
    );
    return accepted instanceof Promise ? accepted : Promise.resolve(accepted);
  }

  response(): Promise<Response> {
    return this.real.asResponse();
  }

  async rawForCaller(): Promise<Response> {
    this.rawHandedOut = true;
    let response: Response;
    try {
      response = await this.real.asResponse();
    } catch (error) {
      await this.failed(error);
      throw error;
    }
    let copy: Response;
    try {
      copy = response.clone();
    } catch {
      return response; // The body is already being read by parse(), which meters it.
    }
    if (this.call.plan.stream) {
      void meterCopy(serverSentData(copy.body), this.call.streamMetering(), () =>
        this.abort?.abort(),
      );
    } else {
      copy.json().then(
        (data) => this.call.settleFromData(data),
        () => this.call.chargeReservation(),
      );
    }
    return response;
  }

  /** The SDK's props with the response {@link rawForCaller} meters (its body is read by the helper). */
  async responseProps(): Promise<unknown> {
    const response = await this.rawForCaller();
    const props =
      typeof this.real._responseProps === 'function' ? await this.real._responseProps() : {};
    return { ...(props as object), response };
  }

  /**
   * The caller dropped the promise unread: a response was charged what was reserved (nobody read
   * its usage); an attempt that got none is settled by how it ended, as if it had been read.
   */
  abandon(): void {
    void this.arrived.then((arrived) =>
      arrived ? this.call.chargeReservation() : this.failure().then((e) => this.settleFailure(e)),
    );
  }

  private accept(parsed: Parsed<unknown>): Parsed<unknown> | Promise<Parsed<unknown>> {
    const { data, props } = parsed;
    if (this.call.plan.stream && isSdkStream(data)) {
      const response = (props as { response?: unknown } | undefined)?.response;
      if (response instanceof Response) return { data: this.meterStream(data, response), props };
      return this.real.asResponse().then((r) => ({ data: this.meterStream(data, r), props }));
    }
    const settling = this.call.settleFromData(data);
    return settling ? settling.then(() => parsed) : parsed;
  }

  /**
   * The SDK's stream, metered as its body arrives (see {@link tapServerSentEvents}): a caller who
   * reads slower than the provider writes, then leaves, is charged all that had reached the
   * process, which the provider billed. The SDK reads `response.body` only once the caller
   * iterates, and the caller gets the stream only from here, so the tap always locks the body
   * first. A body already handed to an `asResponse()` caller, or not a web stream, is metered
   * as the caller pulls it.
   */
  private meterStream(stream: SdkStream<unknown>, response: Response): SdkStream<unknown> {
    const metering = this.call.streamMetering();
    const body = response.body;
    if (this.rawHandedOut || !isTappable(body) || !Object.isExtensible(response)) {
      return meterSdkStream(stream, metering, this.client);
    }
    const { controller } = stream;
    const meter = new ArrivalMeter(metering, () => controller.abort());
    const tap = tapServerSentEvents(body, (item) => meter.observe(item));
    // The SDK reads the tap's copy of each event, once it has been metered.
    Object.defineProperty(response, 'body', { value: tap.body, configurable: true });
    let ended = false;
    const settled = tap.ended.then(() => {
      ended = true;
      return metering.settle();
    });
    settled.catch(() => {}); // Seen by the caller's loop, if there is one.
    const leave = () => {
      if (!ended) {
        // The caller left: stop the request, whose further output nobody would read.
        controller.abort();
        tap.stop();
      }
      return settled;
    };
    const filter = this.call.streamFilter();
    return meterSdkStream(stream, metering, this.client, { meter, filter, leave });
  }

  /**
   * The request failed: a response that came but could not be read is charged what was reserved;
   * without a response, settled by how the request ended (see {@link settleFailure}).
   */
  private async failed(error: unknown): Promise<void> {
    if (await this.arrived) await this.call.chargeReservation();
    else await this.settleFailure(error);
  }
}

/** A web stream nobody reads yet (custom `fetch` implementations may return other bodies). */
function isTappable(body: unknown): body is ReadableStream<Uint8Array> {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as ReadableStream).getReader === 'function' &&
    (body as ReadableStream).locked === false
  );
}

/** Reads the SDK's data and response props (for `_thenUnwrap` transforms) in one parse. */
function unwrap(real: ApiPromiseLike<unknown>): PromiseLike<Parsed<unknown>> {
  if (typeof real._thenUnwrap === 'function') {
    return real._thenUnwrap((data, props) => ({ data, props }));
  }
  return real.then((data) => ({ data, props: undefined }));
}
