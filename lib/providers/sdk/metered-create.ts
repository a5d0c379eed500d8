import type { MaybePromise } from '../../core/ledger-store.interface.js';
import { andThen, isPromise } from '../../core/maybe-promise.js';
import { shallowCopy } from '../../core/shallow-copy.js';
import { type MeteringContext, type PlannedCall, planCall } from '../../metering/call.planner.js';
import type { MeteredCall } from '../../metering/metered-call.js';
import type { ProviderEndpoint, RequestBody } from '../../metering/provider-endpoint.interface.js';
import { ArrivalMeter, meterCopy } from '../../metering/stream.meter.js';
import { memo, MeteredAPIPromise, type Parsed, type PromiseSource } from './metered-api-promise.js';
import { isSdkStream, meterSdkStream, type SdkStream } from './sdk-stream.meter.js';
import { tapServerSentEvents } from './sse-body.tap.js';
import { pause, SdkRetryPolicy } from './sdk-retry.policy.js';
import { serverSentData } from './sse.reader.js';

// The glue between the metered call (lib/metering) and the SDKs Stainless generates (`openai`,
// `@anthropic-ai/sdk`): both return an `APIPromise` and a `Stream` with the same public methods.

/** The parts of the SDK's `APIPromise` the wrapper uses; all are public methods. */
export interface ApiPromiseLike<T> extends PromiseLike<T> {
  asResponse(): Promise<Response>;
  _responseProps?(): PromiseLike<unknown>;
  _thenUnwrap?<U>(transform: (data: T, props: unknown) => U): ApiPromiseLike<U>;
}

/** The SDK's per-request options, as far as the wrapper touches them. */
export type RequestOptionsLike = { signal?: AbortSignal | null } & Record<string, unknown>;

/** Calls the original method of the resource. */
export type Invoke = (
  body: RequestBody,
  options: RequestOptionsLike | undefined,
) => ApiPromiseLike<unknown>;

/** Everything one metered SDK call needs besides its arguments. */
export interface SdkCallSettings extends MeteringContext {
  readonly endpoint: ProviderEndpoint;
  /** The client, handed to the metered `Stream` as the SDK does. */
  readonly client: unknown;
  /** The client's retry rules, which the wrapper applies itself. */
  readonly policy: SdkRetryPolicy;
}

interface StartedCall extends PromiseSource<unknown> {
  /**
   * Runs `fn` once the attempt has its answer (a response, or a failure to get one), at once if
   * it already has one; a call that sends nothing runs nothing.
   */
  whenAnswered(fn: () => void): void;
  /** Settles a call whose promise was dropped without ever being read. */
  abandon(): void;
}

// A promise the caller dropped unread is settled when it is garbage collected.
const unread = new FinalizationRegistry<() => void>((cleanup) => cleanup());

/**
 * Runs one metered SDK call: plans it (policies, reservation, clamp) before anything is sent,
 * sends the planned request through `invoke`, and settles the reservation exactly once however
 * the caller reads the result (`await`, `.withResponse()`, `.asResponse()`, a stream, or never).
 * Planning and sending happen before this returns when nothing has to be waited for (the
 * in-memory store, no SDK retries); an error is only ever seen by whoever reads the promise.
 */
export function meteredCreate(
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MeteredAPIPromise<unknown> {
  let started: MaybePromise<StartedCall>;
  try {
    started = startCall(settings, invoke, body, options);
  } catch (error) {
    started = Promise.reject(error);
  }
  let read = false;
  const reading =
    <T>(fn: (call: StartedCall) => Promise<T>) =>
    () => {
      read = true;
      return isPromise(started) ? started.then(fn) : fn(started);
    };
  const promise = new MeteredAPIPromise<unknown>({
    parse: memo(reading((call) => call.parse())),
    response: reading((call) => call.response()),
    rawForCaller: reading((call) => call.rawForCaller()),
    responseProps: reading((call) => call.responseProps()),
  });
  registerIfUnread(started, promise, () => read);
  return promise;
}

// V8 clears FinalizationRegistry targets only in full GCs, so registering every call keeps each
// request and response alive through young-generation GCs (bench: half the per-call overhead).
// Almost every caller awaits at once; only a promise still unread once its request has been
// answered is registered, and the cleanup checks `isRead` again, so a late reader is never
// charged twice. The rejection handler keeps Node from reporting a failed start as unhandled when
// nobody reads it. In functions of their own so no cleanup closure can reach (and so keep alive)
// the promise.
function registerIfUnread(
  started: MaybePromise<StartedCall>,
  promise: object,
  isRead: () => boolean,
): void {
  const register = (call: StartedCall) =>
    call.whenAnswered(() => {
      if (!isRead()) unread.register(promise, cleanupOf(call, isRead));
    });
  if (isPromise(started)) started.then(register, () => {});
  else register(started);
}

function cleanupOf(call: StartedCall, isRead: () => boolean): () => void {
  return () => {
    if (!isRead()) call.abandon();
  };
}

/** The first attempt, then as many more as the SDK would have retried (its own retries are off). */
function startCall(
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MaybePromise<StartedCall> {
  const { policy } = settings;
  const retries = policy.retries(options);
  const first = startAttempt(settings, invoke, body, options);
  if (retries === 0) return first;
  return andThen(first, (started) => retried(started, settings, invoke, body, options, retries));
}

async function retried(
  first: StartedCall,
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
  retries: number,
): Promise<StartedCall> {
  const { policy } = settings;
  let started = first;
  for (let attempt = 0; ; attempt++) {
    if (attempt >= retries || !(started instanceof SdkCall)) return started;
    const error = await started.failure();
    if (error === undefined || !policy.retryable(error)) return started;
    // This attempt is over: settled on its own before the next one reserves again.
    await started.settleFailure(error);
    await pause(policy.delayMs(error, attempt + 1, retries), options?.signal);
    if (options?.signal?.aborted) throw policy.abortError();
    started = await startAttempt(settings, invoke, body, options);
  }
}

/**
 * One attempt: planned (policies, reservation, clamp) and sent with the SDK's own retries off, so
 * each request the provider may bill has a reservation of its own.
 */
function startAttempt(
  settings: SdkCallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MaybePromise<StartedCall> {
  return andThen(planCall(settings, settings.endpoint, body), (planned) =>
    send(planned, settings, invoke, options),
  );
}

function send(
  planned: PlannedCall,
  settings: SdkCallSettings,
  invoke: Invoke,
  options: RequestOptionsLike | undefined,
): MaybePromise<StartedCall> {
  if (planned.kind === 'fallback') return fallbackCall(planned.data, planned.budget.scope);
  const { call } = planned;
  const requestOptions = shallowCopy(options);
  requestOptions.maxRetries = 0;
  let abort: AbortController | undefined;
  if (call.plan.stream) {
    // Lets the wrapper stop a stream whose raw body the caller reads through asResponse().
    abort = new AbortController();
    const signal = options?.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    requestOptions.signal = signal;
  }
  // An abort before the request left means nothing was sent: released, never charged.
  const sentAborted = options?.signal?.aborted === true;
  let real: ApiPromiseLike<unknown>;
  try {
    real = invoke(planned.body, requestOptions);
  } catch (error) {
    return call.release().then(() => {
      throw error;
    });
  }
  return new SdkCall(settings.client, call, real, abort, settings.policy, sentAborted);
}

class SdkCall implements StartedCall {
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
    private readonly sentAborted: boolean,
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
    switch (this.policy.failureOf(error, this.sentAborted, this.call.plan.stream)) {
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

  abandon(): void {
    void this.call.chargeReservation();
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

/**
 * A `degrade` budget's fallback answer, returned as is. Its synthetic response names the budget's
 * scope (a name the app chose), never its key: keys come from clients, and a header can carry
 * neither their characters (non-Latin-1, CR/LF) nor their secrecy.
 */
function fallbackCall(data: unknown, scope: string): StartedCall {
  const response = () =>
    new Response(JSON.stringify(data ?? null), {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-tokencap-fallback': scope },
    });
  return {
    parse: async () => ({ data, props: undefined }),
    response: async () => response(),
    rawForCaller: async () => response(),
    responseProps: async () => ({
      response: response(),
      options: {},
      controller: new AbortController(),
      requestLogID: '',
      retryOfRequestLogID: undefined,
      startTime: Date.now(),
    }),
    whenAnswered: () => {},
    abandon: () => {},
  };
}
