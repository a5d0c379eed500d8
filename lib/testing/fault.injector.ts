import { validateHeaderName, validateHeaderValue } from 'node:http';

import { DELAY_RANGE } from './fake-openai.options.js';
import {
  functionOption,
  integerOption,
  invalidOption,
  isPlainObject,
  numberOption,
  plainOptions,
} from './kit-options.validator.js';
import type { OpenAIErrorFields } from './openai-error.factory.js';
import type { RecordedRequest } from './request.log.js';

/** Answer with an OpenAI-style JSON error instead of a completion. Nothing is billed. */
export interface ErrorFault extends OpenAIErrorFields {
  kind: 'error';
  /** HTTP status, e.g. 500, 429, 503, 401. */
  status: number;
  /** Extra response headers, e.g. `{ 'retry-after': '1' }`. */
  headers?: Readonly<Record<string, string>>;
}

/** Hold the response back for `ms` (on top of `latencyMs`; an integer from 0 to
 * `Number.MAX_SAFE_INTEGER`), then answer normally; for timeout tests. A client that gives up
 * during the delay is billed nothing. */
export interface DelayFault {
  kind: 'delay';
  ms: number;
}

/**
 * Destroy the socket after `afterChunks` streamed content chunks (chat `delta.content` chunks or
 * Responses `response.output_text.delta` events), or right after the last one when the reply has
 * fewer; the client sees a dropped connection, never `[DONE]` nor usage. The prompt and the content
 * chunks sent are billed. On a non-streamed request the socket is destroyed before any byte and
 * nothing is billed.
 */
export interface CutStreamFault {
  kind: 'cut-stream';
  afterChunks: number;
}

/**
 * Run the request, then destroy the socket before any byte of the response: the client sees a
 * dropped connection (`other side closed`, an SDK `APIConnectionError`) for a request the provider
 * ran, as when a proxy or the network drops the answer. A plain request is billed in full (it runs
 * to its end); a stream its prompt and hidden reasoning (generation stops with its client).
 */
export interface DropAfterBillingFault {
  kind: 'drop-after-billing';
}

/**
 * Answer a streamed request with HTTP 200 and its event-stream headers, then cut the connection
 * before the first event. The prompt (and a reasoning model's hidden reasoning) is billed, as for
 * any response that began. On a request that is not streamed the socket is destroyed before any
 * byte and nothing is billed.
 */
export interface EmptyStreamFault {
  kind: 'empty-stream';
}

/** Leave usage out: no usage chunk on a chat stream even with `include_usage`, no `usage` field on a
 * non-streamed reply or on the final Responses event. Billing is unchanged. */
export interface OmitUsageFault {
  kind: 'omit-usage';
}

/** Send a usage object with wrong types (`null`, strings, negatives), or `usage` verbatim if given.
 * Billing is unchanged. */
export interface MalformedUsageFault {
  kind: 'malformed-usage';
  usage?: unknown;
}

/** Report more usage than was produced: each reported count is `ceil(real * factor) + extraTokens`
 * (defaults: factor 2, extra 0; `factor` from 1 to 1,000,000, `extraTokens` an integer from 0 to
 * 1,000,000,000). Billing keeps the real counts; `tally.reported` shows the lie. */
export interface OverReportUsageFault {
  kind: 'over-report-usage';
  factor?: number;
  extraTokens?: number;
}

/** Every misbehaviour the fake can be told to show. */
export type FakeFault =
  | ErrorFault
  | DelayFault
  | CutStreamFault
  | DropAfterBillingFault
  | EmptyStreamFault
  | OmitUsageFault
  | MalformedUsageFault
  | OverReportUsageFault;

/** Which requests a fault applies to. */
export interface FailOptions {
  /** How many matching requests get the fault; `Infinity` keeps it until cancelled. Default 1. */
  times?: number;
  /** Only requests this returns true for get the fault (and use up `times`). Default: all. */
  when?: (request: RecordedRequest) => boolean;
}

/** A scheduled fault, returned by `server.fail()`. */
export interface FaultHandle {
  /** Matching requests still to be hit. */
  readonly remaining: number;
  /** Requests the fault was applied to so far. */
  readonly applied: number;
  /** Removes the fault; requests already hit keep misbehaving until they finish. */
  cancel(): void;
}

interface Rule<F> {
  fault: F;
  remaining: number;
  applied: number;
  when: ((request: RecordedRequest) => boolean) | undefined;
}

/**
 * Ordered list of scheduled faults. Each request takes at most one: the earliest-scheduled rule
 * that matches it, so a test can queue "500, then 429" with two `fail()` calls. Only requests
 * that reach a known endpoint with a valid key and a JSON body draw faults; a 404 or a 401 does
 * not use one up.
 *
 * Generic over the fault vocabulary so each fake provider keeps its own fault kinds (and their
 * validation, passed as `check`) while sharing the scheduling rules; the default is OpenAI's.
 */
export class FaultInjector<F extends { kind: string } = FakeFault> {
  private rules: Rule<F>[] = [];

  constructor(
    /** Validates a fault; may return the normalised copy to schedule. */
    private readonly check: (fault: F) => F | void = validFault as unknown as (fault: F) => F,
  ) {}

  /**
   * Schedules a validated copy of `fault` (later changes to the caller's object have no effect);
   * see {@link FailOptions}.
   * @throws TokencapConfigError naming the bad parameter: an unknown kind or key, a value of the
   * wrong type or out of range.
   */
  add(fault: F, options?: FailOptions): FaultHandle {
    const given = plainOptions('fail()', options, ['times', 'when']);
    const times =
      given.times === Infinity ? Infinity : integerOption('fail()', 'times', given.times, TIMES);
    const when = functionOption<(request: RecordedRequest) => boolean>(
      'fail()',
      'when',
      given.when,
    );
    // A frozen copy: later changes to the caller's object have no effect.
    const valid = this.check(fault) ?? Object.freeze({ ...fault });
    const rule: Rule<F> = {
      fault: valid,
      remaining: times,
      applied: 0,
      when,
    };
    this.rules.push(rule);
    return {
      get remaining() {
        return rule.remaining;
      },
      get applied() {
        return rule.applied;
      },
      cancel: () => {
        rule.remaining = 0;
        this.prune();
      },
    };
  }

  /** Returns the fault for this request, if any, and uses up one of its `times`. */
  take(request: RecordedRequest): F | undefined {
    const rule = this.rules.find((r) => r.remaining > 0 && (r.when?.(request) ?? true));
    if (!rule) return undefined;
    rule.remaining -= 1;
    rule.applied += 1;
    this.prune();
    return rule.fault;
  }

  /** Removes every scheduled fault. */
  clear(): void {
    for (const rule of this.rules) rule.remaining = 0;
    this.rules = [];
  }

  private prune(): void {
    this.rules = this.rules.filter((r) => r.remaining > 0);
  }
}

const TIMES = { min: 1, max: Number.MAX_SAFE_INTEGER, fallback: 1 } as const;
const FACTOR = { min: 1, max: 1_000_000, fallback: 2 } as const;
const EXTRA_TOKENS = { min: 0, max: 1_000_000_000, fallback: 0 } as const;
const COUNT = { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 } as const;
const STATUS = { min: 400, max: 599, fallback: 500 } as const;
const DELAY = { ...DELAY_RANGE, fallback: 0 } as const;

/** The parameters each fault kind takes besides `kind`; a `Map` so no kind is found on a prototype. */
const PARAMETERS = new Map<string, readonly string[]>([
  ['error', ['status', 'headers', 'message', 'type', 'param', 'code']],
  ['delay', ['ms']],
  ['cut-stream', ['afterChunks']],
  ['drop-after-billing', []],
  ['empty-stream', []],
  ['omit-usage', []],
  ['malformed-usage', ['usage']],
  ['over-report-usage', ['factor', 'extraTokens']],
]);

/** Checks every parameter of `fault` and returns a frozen copy holding exactly them. */
function validFault(fault: unknown): FakeFault {
  if (!isPlainObject(fault)) throw invalidOption('fail()', 'the fault', 'a plain object', fault);
  const kind = fault.kind;
  const parameters = typeof kind === 'string' ? PARAMETERS.get(kind) : undefined;
  if (parameters === undefined) {
    throw invalidOption('fail()', 'kind', `one of ${[...PARAMETERS.keys()].join(', ')}`, kind);
  }
  const where = `fail(${kind})`;
  const given = plainOptions(where, fault, ['kind', ...parameters]);
  switch (kind) {
    case 'error':
      return Object.freeze({
        kind,
        status: integerOption(where, 'status', required(where, 'status', given.status), STATUS),
        ...optionalStrings(where, given, ['message', 'type'], false),
        ...optionalStrings(where, given, ['param', 'code'], true),
        ...(given.headers === undefined ? {} : { headers: headers(where, given.headers) }),
      } as ErrorFault);
    case 'delay':
      return Object.freeze({
        kind,
        ms: integerOption(where, 'ms', required(where, 'ms', given.ms), DELAY),
      });
    case 'cut-stream':
      return Object.freeze({
        kind,
        afterChunks: integerOption(
          where,
          'afterChunks',
          required(where, 'afterChunks', given.afterChunks),
          COUNT,
        ),
      });
    case 'malformed-usage':
      return Object.freeze({ kind, usage: serialisable(where, given.usage) });
    case 'over-report-usage':
      return Object.freeze({
        kind,
        factor: numberOption(where, 'factor', given.factor, FACTOR),
        extraTokens: integerOption(where, 'extraTokens', given.extraTokens, EXTRA_TOKENS),
      });
    case 'drop-after-billing':
    case 'empty-stream':
      return Object.freeze({ kind });
    default:
      return Object.freeze({ kind: 'omit-usage' });
  }
}

/** A parameter the fault kind cannot do without (no default). */
function required(where: string, name: string, value: unknown): unknown {
  if (value === undefined) throw invalidOption(where, name, 'given', value);
  return value;
}

function optionalStrings(
  where: string,
  given: Readonly<Record<string, unknown>>,
  names: readonly string[],
  nullable: boolean,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const name of names) {
    const value = given[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' && !(nullable && value === null)) {
      throw invalidOption(where, name, nullable ? 'a string or null' : 'a string', value);
    }
    out[name] = value;
  }
  return out;
}

/** Response headers, checked as Node checks them when the response is written. */
function headers(where: string, value: unknown): Readonly<Record<string, string>> {
  if (!isPlainObject(value)) throw invalidOption(where, 'headers', 'a plain object', value);
  const out: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    const label = `headers[${JSON.stringify(name)}]`;
    try {
      validateHeaderName(name);
    } catch {
      throw invalidOption(where, 'each header name', 'a valid HTTP header name', name);
    }
    if (typeof header !== 'string') throw invalidOption(where, label, 'a string', header);
    try {
      validateHeaderValue(name, header);
    } catch {
      throw invalidOption(where, label, 'a valid HTTP header value', header);
    }
    out[name] = header;
  }
  return out;
}

/** A `usage` payload the fake can put on the wire as JSON. */
function serialisable(where: string, usage: unknown): unknown {
  if (usage === undefined) return undefined;
  try {
    if (JSON.stringify(usage) !== undefined) return usage;
  } catch {
    // Falls through: a cycle or a BigInt cannot be sent.
  }
  throw invalidOption(where, 'usage', 'a JSON-serialisable value', usage);
}
