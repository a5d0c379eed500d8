import { Readable } from 'node:stream';
import { ReadableStream, type ReadableStreamDefaultReader } from 'node:stream/web';
import { isObservable, Observable } from 'rxjs';

/** Runs `fn` inside one frame (of budgets, of a request) and returns what it returns. */
export type FrameEntry = <R>(fn: () => R) => R;

// Hooks through which a Node stream runs the code that produces or consumes its data. Whoever
// calls them (a socket draining, `pipe()`, `for await`) runs them in its own async context.
const STREAM_HOOKS = ['_read', '_write', '_writev', '_final', '_transform', '_flush', '_destroy'];
// Results of these iterator steps are IteratorResults: nothing lazy to bind in them.
const ITERATOR_STEPS = new Set<PropertyKey>(['next', 'return', 'throw']);

/**
 * The one rule for results that run after the function that returned them: binds `value` to the
 * frame `enter` opens, so the work it does when consumed runs inside that frame, however late and
 * from wherever it is consumed. `runWithBudgets`, the Nest interceptor and budgeted provider
 * methods all return what this returns.
 *
 * - Observable: subscribed (and unsubscribed) inside the frame; each value it emits is bound too.
 * - Promise or other thenable: what it resolves to is bound (an `async` method returning a
 *   generator); a thenable that is not a plain `Promise` keeps its class and methods.
 * - Node `Readable` (and Duplex, Transform), also inside a `StreamableFile`: bound in place, so
 *   `_read`, `_write`, `_transform`, `_flush`, `_final` and `_destroy` run inside the frame.
 * - Web `ReadableStream`: a stream reading it inside the frame; a web `Response` keeps its status
 *   and headers with such a body.
 * - Iterators, generators, async iterables and iterables whose `[Symbol.iterator]` is the user's
 *   own code (a generator or a plain method; not a built-in's): every method call (`next`, `return`, `throw`, …) runs inside the frame, so early
 *   returns and errors reach the source, and its `finally` blocks run inside the frame too.
 * - Anything else (plain objects, arrays, strings, Buffers, Maps, Sets) is returned as it is.
 *
 * The frame is entered for each call and left when it returns: nothing leaks into the consumer.
 */
export function bindLazyResult<T>(value: T, enter: FrameEntry): T {
  let shape: LazyShape | undefined;
  try {
    shape = lazyShapeOf(value);
  } catch {
    // A value that throws when its properties are read (a revoked proxy, an assertion object)
    // cannot be consumed lazily either.
    return value;
  }
  switch (shape) {
    case undefined:
      return value;
    case 'observable':
      return bindObservable(value as Observable<unknown>, enter) as T;
    case 'promise':
      return (value as Promise<unknown>).then((resolved) => bindLazyResult(resolved, enter)) as T;
    case 'node-stream':
      return bindNodeStream(value as NodeStream, enter) as T;
    case 'web-stream':
      return bindWebStream(value as ReadableStream, enter) as T;
    case 'web-response':
      return bindWebResponse(value as Response, enter) as T;
    case 'streamable-file':
      bindNodeStream((value as { getStream(): NodeStream }).getStream(), enter);
      return value;
    case 'methods':
      return bindMethods(value as object, enter) as T;
  }
}

type LazyShape =
  | 'observable'
  | 'promise'
  | 'node-stream'
  | 'web-stream'
  | 'web-response'
  | 'streamable-file'
  | 'methods';

function lazyShapeOf(value: unknown): LazyShape | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (isObservable(value)) return 'observable';
  if (value instanceof Promise && Object.getPrototypeOf(value) === Promise.prototype) {
    return 'promise';
  }
  if (isNodeReadable(value)) return 'node-stream';
  if (value instanceof ReadableStream) return 'web-stream';
  if (Object.prototype.toString.call(value) === '[object Response]') return 'web-response';
  const v = value as Record<PropertyKey, unknown>;
  if (isStreamableFile(v)) return isNodeReadable(v.getStream()) ? 'streamable-file' : undefined;
  if (
    typeof v.then === 'function' ||
    typeof v[Symbol.asyncIterator] === 'function' ||
    typeof v.next === 'function' ||
    runsUserCode(v[Symbol.iterator])
  ) {
    return 'methods';
  }
  return undefined;
}

function bindObservable(source: Observable<unknown>, enter: FrameEntry): Observable<unknown> {
  return new Observable((subscriber) => {
    const subscription = enter(() =>
      source.subscribe({
        next: (item) => subscriber.next(bindLazyResult(item, enter)),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
    return () => enter(() => subscription.unsubscribe());
  });
}

type NodeStream = Readable & Record<string, unknown>;

function isNodeReadable(value: unknown): value is NodeStream {
  if (value instanceof Readable) return true;
  // Streams of another copy of the stream module (readable-stream) are duck-typed.
  const s = value as Record<string, unknown> | null;
  return (
    typeof s?.pipe === 'function' &&
    typeof s._read === 'function' &&
    typeof s.on === 'function' &&
    typeof s._readableState === 'object'
  );
}

// In place: the stream may already be piped or listened to, and it keeps its identity and class.
function bindNodeStream(stream: NodeStream, enter: FrameEntry): NodeStream {
  for (const hook of STREAM_HOOKS) {
    const original = stream[hook];
    if (typeof original !== 'function') continue;
    stream[hook] = function (this: unknown, ...args: unknown[]) {
      return enter(() => Reflect.apply(original, this, args));
    };
  }
  return stream;
}

function bindWebStream(source: ReadableStream, enter: FrameEntry): ReadableStream {
  let reader: ReadableStreamDefaultReader<unknown> | undefined;
  // highWaterMark 0: nothing is read from the source before the consumer asks for it.
  return new ReadableStream(
    {
      pull: (controller) =>
        enter(() => (reader ??= source.getReader()).read()).then((result) => {
          if (result.done) controller.close();
          else controller.enqueue(result.value);
        }),
      cancel: (reason) => enter(() => (reader ? reader.cancel(reason) : source.cancel(reason))),
    },
    { highWaterMark: 0 },
  );
}

function bindWebResponse(response: Response, enter: FrameEntry): Response {
  let body: ReadableStream | null | undefined;
  const methods = bindMethods(response, enter);
  return new Proxy(response, {
    get(target, property) {
      if (property === 'body') {
        body ??= target.body ? bindWebStream(target.body as ReadableStream, enter) : null;
        return body;
      }
      return Reflect.get(methods, property);
    },
  });
}

function isStreamableFile(
  value: Record<PropertyKey, unknown>,
): value is { getStream(): unknown } & Record<PropertyKey, unknown> {
  // Nest's StreamableFile, recognised by its methods: the engine imports nothing from Nest.
  return (
    typeof value.getStream === 'function' &&
    typeof value.getHeaders === 'function' &&
    typeof value.setErrorHandler === 'function'
  );
}

// Whether an iterator method is the user's own code (a generator, a hand-written iterator), which
// must run inside the frame; the built-in ones of arrays, strings, Maps, Sets, typed arrays and
// web collections only walk data already there.
function runsUserCode(method: unknown): boolean {
  if (typeof method !== 'function') return false;
  let native = NATIVE_CODE.get(method);
  if (native === undefined) {
    native = /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(method));
    NATIVE_CODE.set(method, native);
  }
  return !native;
}

const NATIVE_CODE = new WeakMap<object, boolean>();

/**
 * A view of `target` whose methods run inside the frame, called on `target` itself (so private
 * fields and brand checks work). A method returning `target` returns the view; other results are
 * bound in turn (an iterable's iterator, a thenable's next promise).
 */
function bindMethods<T extends object>(target: T, enter: FrameEntry): T {
  const bound = new Map<PropertyKey, { member: unknown; call: unknown }>();
  const view: T = new Proxy(target, {
    get(t, property) {
      const member: unknown = Reflect.get(t, property, t);
      if (typeof member !== 'function' || property === 'constructor') return member;
      const cached = bound.get(property);
      if (cached?.member === member) return cached.call;
      const call =
        property === 'then'
          ? (onFulfilled?: unknown, onRejected?: unknown) =>
              bindLazyResult(
                enter(() =>
                  Reflect.apply(member, t, [
                    typeof onFulfilled === 'function'
                      ? (resolved: unknown) => onFulfilled(bindLazyResult(resolved, enter))
                      : onFulfilled,
                    onRejected,
                  ]),
                ),
                enter,
              )
          : (...args: unknown[]) => {
              const result: unknown = enter(() => Reflect.apply(member, t, args));
              if (result === t) return view;
              return ITERATOR_STEPS.has(property) ? result : bindLazyResult(result, enter);
            };
      bound.set(property, { member, call });
      return call;
    },
  });
  return view;
}
