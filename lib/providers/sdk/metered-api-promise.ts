/** Parsed data of a call, with the SDK's response props (passed on to `_thenUnwrap` transforms). */
export interface Parsed<T> {
  data: T;
  props: unknown;
}

/** The call behind a {@link MeteredAPIPromise}. Each method may be called any number of times. */
export interface PromiseSource<T> {
  /** The metered data (memoised: the body is read once). */
  parse(): Promise<Parsed<T>>;
  /** The raw `Response`, for `withResponse()`: its body is the one `parse()` reads. */
  response(): Promise<Response>;
  /** The raw `Response` for a caller who reads the body themselves; a copy of it is metered. */
  rawForCaller(): Promise<Response>;
  /**
   * The SDK's response props (`response`, `options`, `controller`, …) for a helper that parses the
   * body itself; the `Response` is the one {@link rawForCaller} gives (a copy of it is metered).
   */
  responseProps(): Promise<unknown>;
}

/**
 * Stands in for the SDK's `APIPromise` while Tokencap reserves budget before the request is sent:
 * it is a `Promise` of the same data, with the same `asResponse()`, `withResponse()` and
 * `_thenUnwrap()` (which the SDK's own `parse()` helpers call), built on public methods only.
 * Like `APIPromise`, awaiting it is what reads the body; the request itself starts at once.
 */
export class MeteredAPIPromise<T> extends Promise<T> {
  #source: PromiseSource<T>;
  #parsed: Promise<Parsed<T>> | undefined;

  // `then` is overridden, so derived promises are plain ones (as with APIPromise).
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  constructor(source: PromiseSource<T>) {
    // The settled value is never used: then/catch/finally read the source.
    super((resolve) => resolve(undefined as T));
    this.#source = source;
  }

  /** The same call with its data transformed, as `APIPromise._thenUnwrap` does. */
  _thenUnwrap<U>(transform: (data: T, props: unknown) => U): MeteredAPIPromise<U> {
    const source = this.#source;
    const parse = memo(() =>
      this.#parse().then(({ data, props }) => ({
        data: withRequestId(transform(data, props), props),
        props,
      })),
    );
    return new MeteredAPIPromise<U>({
      parse,
      response: () => source.response(),
      rawForCaller: () => source.rawForCaller(),
      responseProps: () => source.responseProps(),
    });
  }

  /**
   * The response props, as `APIPromise._responseProps()` gives them to helpers that build one
   * request on another (`beta.messages.toolRunner()`, message threads); metered like
   * {@link asResponse}.
   */
  _responseProps(): Promise<unknown> {
    return this.#source.responseProps();
  }

  /** The raw `Response`, without parsing it; the call is metered from a copy of the body. */
  asResponse(): Promise<Response> {
    return this.#source.rawForCaller();
  }

  /** The parsed data, the raw `Response` and the request id. */
  async withResponse(): Promise<{ data: T; response: Response; request_id: string | null }> {
    const [{ data }, response] = await Promise.all([this.#parse(), this.#source.response()]);
    return { data, response, request_id: requestIdOf(response) };
  }

  override then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    // One reaction rather than two: this runs on every awaited call.
    return this.#parse().then(
      typeof onfulfilled === 'function'
        ? (p) => onfulfilled(p.data)
        : (p) => p.data as unknown as R1,
      onrejected,
    );
  }

  override catch<R = never>(
    onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null,
  ): Promise<T | R> {
    return this.then(undefined, onrejected);
  }

  override finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#parse()
      .then((p) => p.data)
      .finally(onfinally);
  }

  #parse(): Promise<Parsed<T>> {
    return (this.#parsed ??= this.#source.parse());
  }
}

/** The request id a response names: `x-request-id` (OpenAI), else `request-id` (Anthropic). */
function requestIdOf(response: Response): string | null {
  return response.headers.get('x-request-id') ?? response.headers.get('request-id');
}

/** Memoises a promise-returning function. */
export function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= fn());
}

// The SDK tags parsed objects with a non-enumerable `_request_id`; transforms keep the tag.
function withRequestId<U>(value: U, props: unknown): U {
  const response = (props as { response?: Response } | undefined)?.response;
  if (
    typeof value === 'object' &&
    value !== null &&
    response?.headers &&
    !('_request_id' in value)
  ) {
    Object.defineProperty(value, '_request_id', {
      value: requestIdOf(response),
      enumerable: false,
    });
  }
  return value;
}
