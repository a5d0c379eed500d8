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

/** Hold the response back for `ms` (on top of `latencyMs`), then answer normally; for timeout
 * tests. A client that gives up during the delay is billed nothing. */
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

/** Report more usage than was produced: each reported count is `real * factor + extraTokens`
 * (defaults: factor 2, extra 0). Billing keeps the real counts; `tally.reported` shows the lie. */
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

  constructor(private readonly check: (fault: F) => void = validate as (fault: F) => void) {}

  /** Schedules `fault`; see {@link FailOptions}. */
  add(fault: F, options: FailOptions = {}): FaultHandle {
    const times = options.times ?? 1;
    if (!(times === Infinity || (Number.isSafeInteger(times) && times >= 1))) {
      throw new RangeError(`fail(): times must be a positive integer or Infinity, got ${times}`);
    }
    this.check(fault);
    const rule: Rule<F> = { fault, remaining: times, applied: 0, when: options.when };
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

function validate(fault: FakeFault): void {
  const bad = (what: string) => new RangeError(`fail(${fault.kind}): ${what}`);
  switch (fault.kind) {
    case 'error':
      if (!Number.isInteger(fault.status) || fault.status < 400 || fault.status > 599) {
        throw bad(`status must be an HTTP error status (400-599), got ${fault.status}`);
      }
      break;
    case 'delay':
      if (!(fault.ms >= 0)) throw bad(`ms must be >= 0, got ${fault.ms}`);
      break;
    case 'cut-stream':
      if (!Number.isInteger(fault.afterChunks) || fault.afterChunks < 0) {
        throw bad(`afterChunks must be a non-negative integer, got ${fault.afterChunks}`);
      }
      break;
    case 'over-report-usage':
      if ((fault.factor ?? 2) < 1 || (fault.extraTokens ?? 0) < 0) {
        throw bad('factor must be >= 1 and extraTokens >= 0 (it reports MORE than reality)');
      }
      break;
    case 'omit-usage':
    case 'malformed-usage':
      break;
    default:
      throw new RangeError(`fail(): unknown fault kind ${(fault as { kind: unknown }).kind}`);
  }
}
