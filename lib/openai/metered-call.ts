import { type Amounts, type Budget, type Dimension, toUserUnits } from '../core/budget.js';
import type { BudgetFrame } from '../core/budget-context.js';
import type { UsageDetails } from '../core/events.js';
import { thresholdAmount } from '../core/ledger-rules.js';
import type { Reservation } from '../core/reservation.js';
import { BudgetExceededError, type BudgetExceededDetails, TokencapError } from '../errors.js';
import type {
  ChatCapParameter,
  Endpoint,
  ReportedUsage,
  RequestBody,
} from './endpoint.interface.js';
import { memo, MeteredAPIPromise, type Parsed, type PromiseSource } from './metered-api-promise.js';
import { meter, reservationShape, type TokenUsage } from './meter.js';
import { type PriceTable, PriceUnknownError } from '../pricing/price-table.js';
import { OutputCounter } from './output.counter.js';
import { meterRawStream, meterStream, type StreamMetering } from './streams.js';
import type { ModelOutputLimits } from './model-output-limits.js';

/** The parts of the SDK's `APIPromise` the wrapper uses; all are public methods. */
export interface ApiPromiseLike<T> extends PromiseLike<T> {
  asResponse(): Promise<Response>;
  _thenUnwrap?<U>(transform: (data: T, props: unknown) => U): ApiPromiseLike<U>;
}

/** The SDK's per-request options, as far as the wrapper touches them. */
export type RequestOptionsLike = { signal?: AbortSignal | null } & Record<string, unknown>;

/** Calls the original `create` of the resource. */
export type Invoke = (
  body: RequestBody,
  options: RequestOptionsLike | undefined,
) => ApiPromiseLike<unknown>;

/** Everything one metered call needs besides its arguments. */
export interface CallSettings {
  readonly endpoint: Endpoint;
  readonly frame: BudgetFrame;
  readonly defaultMaxOutputTokens: number;
  readonly chatOutputCapParameter: ChatCapParameter;
  /** Each model's own output limit: an uncapped call is never capped above it. */
  readonly outputLimits: ModelOutputLimits;
  /** The client, handed to the metered `Stream` as the SDK does. */
  readonly client: unknown;
}

interface StartedCall extends PromiseSource<unknown> {
  /** Settles a call whose promise was dropped without ever being read. */
  abandon(): void;
}

/**
 * The most output tokens one choice reserves, whatever cap the request names. No model writes
 * more in one call (the largest output windows are 128k tokens), so an absurd cap such as
 * `max_tokens: 1e12` reserves this instead: one request cannot hold a `degrade` or `notify`
 * budget's reservations at a trillion tokens, nor push the stores' sums past 2^53, where they stop
 * being exact. Under `hard-stop` the request is also sent with the reserved cap, as for any cap
 * larger than what was granted.
 */
export const MAX_OUTPUT_TOKENS = 1_000_000;

/** The most choices (`n`) a call may ask for: the OpenAI API's own limit. */
export const MAX_CHOICES = 128;

// A promise the caller dropped unread is settled when it is garbage collected.
const unread = new FinalizationRegistry<() => void>((cleanup) => cleanup());

/**
 * Runs one metered call: reserves on every budget of the frame before anything is sent (or answers
 * with a `degrade` budget's fallback), sends the request through `invoke` with the output capped,
 * the model degraded and usage requested as the budgets require, and settles the reservation
 * exactly once from the provider's usage or from Tokencap's own count.
 */
export function meteredCreate(
  settings: CallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): MeteredAPIPromise<unknown> {
  const started = startCall(settings, invoke, body, options);
  let read = false;
  const source: PromiseSource<unknown> = {
    parse: memo(() => {
      read = true;
      return started.then((call) => call.parse());
    }),
    response: () => {
      read = true;
      return started.then((call) => call.response());
    },
    rawForCaller: () => {
      read = true;
      return started.then((call) => call.rawForCaller());
    },
  };
  const promise = new MeteredAPIPromise(source);
  registerIfUnread(
    started,
    promise,
    () => {
      if (!read)
        void started.then(
          (call) => call.abandon(),
          () => {},
        );
    },
    () => read,
  );
  return promise;
}

// V8 clears FinalizationRegistry targets only in full GCs, so registering every call keeps each
// request and response alive through the young-generation GCs (bench: half of the per-call
// overhead). Almost every caller awaits at once; only a promise still unread a few microtasks
// later (once the call has started: reserving takes a few) is registered. The cleanup itself still
// checks `read`, so a late reader is never charged twice. The rejection handler also keeps Node from
// reporting a failed start as unhandled when the caller never reads the promise (errors reach the
// caller through it; the SDK sends requests eagerly too).
function registerIfUnread(
  started: Promise<unknown>,
  promise: object,
  cleanup: () => void,
  isRead: () => boolean,
): void {
  started.then(
    () => {
      if (!isRead()) unread.register(promise, cleanup);
    },
    () => {},
  );
}

async function startCall(
  settings: CallSettings,
  invoke: Invoke,
  body: RequestBody,
  options: RequestOptionsLike | undefined,
): Promise<StartedCall> {
  const { endpoint, frame } = settings;
  const { ledger, budgets } = frame;
  const model = typeof body.model === 'string' ? body.model : '';
  const prompt = endpoint.countPrompt(body, model);
  const choices = endpoint.producesOutput ? endpoint.choices(body) : 0;
  if (choices > MAX_CHOICES) {
    throw new TokencapError(
      `${endpoint.name}: n = ${choices} asks for more choices than Tokencap reserves for (at most ` +
        `${MAX_CHOICES}, the OpenAI API's own limit); the request was not sent.`,
    );
  }
  const cap = endpoint.producesOutput ? endpoint.outputCap(body) : undefined;
  // Dollars are metered only where a budget counts them, so unpriced models work elsewhere.
  const prices = budgets.some((b) => b.limits.usd !== undefined) ? ledger.prices : undefined;
  const shape = reservationShape(model, prompt, choices, prices);
  const limited = endpoint.producesOutput && hardLimited(budgets, shape.perUnit);
  // Under hard-stop an uncapped call is capped at what its budget has left, but never above its
  // model's own output limit, which the API would reject.
  const ceiling = cap ?? (limited ? settings.outputLimits.limitFor(model) : undefined);
  const units = endpoint.producesOutput
    ? {
        min: 1,
        max: ceiling === undefined ? Infinity : Math.min(ceiling, MAX_OUTPUT_TOKENS),
        ifUnbounded: settings.defaultMaxOutputTokens,
      }
    : undefined;

  let reservation: Reservation;
  try {
    reservation = await ledger.reserve(budgets, {
      base: shape.base,
      perUnit: shape.perUnit,
      units,
    });
  } catch (error) {
    const budget =
      error instanceof BudgetExceededError ? fallbackBudget(budgets, error) : undefined;
    if (!budget) throw error;
    return answerWithFallback(frame, budget, body, model);
  }

  try {
    let sent = body;
    const degrade = degradeBudget(budgets, reservation, model);
    if (degrade) {
      sent = { ...sent, model: degrade.fallbackModel };
      ledger.publish({
        type: 'degraded',
        action: 'fallback-model',
        scope: degrade.scope,
        key: degrade.key,
        at: ledger.clock(),
        model,
        fallbackModel: degrade.fallbackModel,
      });
    }
    const clamped = limited && (cap === undefined || cap > reservation.units);
    if (clamped)
      sent = endpoint.withOutputCap(sent, reservation.units, settings.chatOutputCapParameter);

    const stream = sent.stream === true;
    let injected = false;
    let abort: AbortController | undefined;
    let requestOptions = options;
    if (stream) {
      ({ body: sent, injected } = endpoint.prepareStream(sent));
      // Lets the wrapper stop a stream whose raw body the caller reads through asResponse().
      abort = new AbortController();
      const signal = options?.signal
        ? AbortSignal.any([options.signal, abort.signal])
        : abort.signal;
      requestOptions = { ...options, signal };
    }
    const plan: CallPlan = {
      model: typeof sent.model === 'string' ? sent.model : model,
      prices,
      prompt,
      units: reservation.units,
      choices,
      outputLimit: limited && endpoint.producesOutput ? reservation.units * choices : undefined,
      budgetCut: clamped && tookEverythingLeft(reservation, shape.perUnit),
      stream,
      injected,
      abort,
    };
    return new LiveCall(settings, invoke(sent, requestOptions), reservation, plan);
  } catch (error) {
    await reservation.release();
    throw error;
  }
}

/** What was decided before the request went out. */
interface CallPlan {
  /** The model sent (the fallback model when degraded). */
  model: string;
  /** Set when a budget of the call limits dollars. */
  prices: PriceTable | undefined;
  prompt: number;
  /** Output tokens granted per choice. */
  units: number;
  choices: number;
  outputLimit: number | undefined;
  budgetCut: boolean;
  stream: boolean;
  /** Whether Tokencap asked for the usage chunk (and hides it). */
  injected: boolean;
  abort: AbortController | undefined;
}

class LiveCall implements StartedCall {
  /** Whether a response arrived (its body may still fail to parse); false on HTTP and network errors. */
  private readonly arrived: Promise<boolean>;

  constructor(
    private readonly settings: CallSettings,
    private readonly real: ApiPromiseLike<unknown>,
    private readonly reservation: Reservation,
    private readonly plan: CallPlan,
  ) {
    this.arrived = real.asResponse().then(
      () => true,
      () => false,
    );
  }

  // Called once (meteredCreate memoises it). Not memoised here: a stream's cleanup reaches this
  // call, and must not reach the metered stream through a cached result.
  // Chained rather than awaited: this runs on every call, and each async layer costs promises.
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
        this.failed().then(() => {
          throw error;
        }),
    );
    return accepted instanceof Promise ? accepted : Promise.resolve(accepted);
  }

  response(): Promise<Response> {
    return this.real.asResponse();
  }

  async rawForCaller(): Promise<Response> {
    let response: Response;
    try {
      response = await this.real.asResponse();
    } catch (error) {
      await this.failed();
      throw error;
    }
    let copy: Response;
    try {
      copy = response.clone();
    } catch {
      return response; // The body is already being read by parse(), which meters it.
    }
    if (this.plan.stream) {
      void meterRawStream(copy.body, this.streamMetering(), () => this.plan.abort?.abort());
    } else {
      copy.json().then(
        (data) => this.settleFromData(data),
        () => this.settleUnreadable(),
      );
    }
    return response;
  }

  abandon(): void {
    void this.settleUnreadable();
  }

  private accept(parsed: Parsed<unknown>): Parsed<unknown> | Promise<Parsed<unknown>> {
    const { data, props } = parsed;
    if (this.plan.stream && isSdkStream(data)) {
      return { data: meterStream(data, this.streamMetering(), this.settings.client), props };
    }
    const settling = this.settleFromData(data);
    return settling ? settling.then(() => parsed) : parsed;
  }

  /** The request failed: released when no response came (the provider bills nothing), else charged. */
  private async failed(): Promise<void> {
    if (await this.arrived) await this.settleUnreadable();
    else await this.reservation.release();
  }

  /** Settles from a response's data; returns nothing when the store committed synchronously. */
  private settleFromData(data: unknown): Promise<void> | undefined {
    const { endpoint } = this.settings;
    const reported = endpoint.reportedUsage(data);
    return this.settleNow(reported, () => {
      const counter = new OutputCounter(this.plan.model);
      endpoint.outputOf(data, counter);
      return counter.exact();
    });
  }

  /** A response arrived but could not be read: charge what was reserved, the most it can cost. */
  private async settleUnreadable(): Promise<void> {
    await this.settle(undefined, () => this.plan.units * this.plan.choices);
  }

  private async settle(reported: ReportedUsage | undefined, counted: () => number): Promise<void> {
    await this.settleNow(reported, counted);
  }

  /** {@link settle}, without a promise when the store commits synchronously (the in-memory store). */
  private settleNow(
    reported: ReportedUsage | undefined,
    counted: () => number,
  ): Promise<void> | undefined {
    if (this.reservation.isSettled) return undefined;
    const prompt = reported?.prompt ?? this.plan.prompt;
    const output = reported?.output ?? counted();
    const usage = { prompt, output, cached: reported?.cached, reasoning: reported?.reasoning };
    const details: UsageDetails = {
      model: reported?.model ?? this.plan.model,
      promptTokens: prompt,
      outputTokens: output,
      source:
        reported?.prompt !== undefined && reported.output !== undefined ? 'provider' : 'estimate',
    };
    if (usage.cached !== undefined) details.cachedTokens = usage.cached;
    if (usage.reasoning !== undefined) details.reasoningTokens = usage.reasoning;
    const done = this.reservation.commitNow(this.amountsOf(usage), details);
    return typeof done === 'boolean' ? undefined : done;
  }

  private amountsOf(usage: TokenUsage): Amounts {
    try {
      return meter(this.plan.model, usage, this.plan.prices);
    } catch (error) {
      // A degraded call's fallback model may have no price. The call has happened: charge what was
      // reserved in dollars (priced at the requested model, so never less) rather than lose it.
      if (!(error instanceof PriceUnknownError)) throw error;
      return { ...meter(this.plan.model, usage), usd: this.reservation.amounts.usd ?? 0 };
    }
  }

  private streamMetering(): StreamMetering {
    const { endpoint } = this.settings;
    const observer = endpoint.streamObserver(this.plan.injected);
    const counter = new OutputCounter(this.plan.model);
    const settle = () => this.settle(observer.usage, () => counter.exact());
    return {
      observer,
      counter,
      outputLimit: this.plan.outputLimit,
      budgetCut: this.plan.budgetCut,
      settle,
      stopped: async (reason) => {
        await settle();
        const output =
          reason === 'overrun' ? counter.exact() : this.plan.units * this.plan.choices + 1;
        return this.stopError({ prompt: this.plan.prompt, output });
      },
    };
  }

  /** The error that ends a stream the budget stopped; also published as a `refused` event. */
  private async stopError(usage: TokenUsage): Promise<BudgetExceededError> {
    const { ledger } = this.settings.frame;
    const { budget, dimension } = bindingBudget(this.reservation);
    // Every amount in the unit of the binding dimension: dollars for usd, not micro-dollars or tokens.
    const limit = toUserUnits(dimension, budget.limits[dimension] as number);
    const requested = toUserUnits(dimension, this.amountsOf(usage)[dimension] ?? 0);
    let used = 0;
    let reserved = 0;
    try {
      const [usage] = await ledger.usage([budget]);
      const dim = usage.dimensions[dimension];
      used = dim?.used ?? 0;
      reserved = dim?.reserved ?? 0;
    } catch {
      // Store down: the error still names the budget and its limit.
    }
    const details: BudgetExceededDetails = {
      scope: budget.scope,
      key: budget.key,
      dimension,
      limit,
      used,
      reserved,
      requested,
      policy: 'hard-stop',
    };
    ledger.publish({ type: 'refused', at: ledger.clock(), ...details });
    return new BudgetExceededError(details);
  }
}

/** Reads the SDK's data and response props (for `_thenUnwrap` transforms) in one parse. */
function unwrap(real: ApiPromiseLike<unknown>): PromiseLike<Parsed<unknown>> {
  if (typeof real._thenUnwrap === 'function') {
    return real._thenUnwrap((data, props) => ({ data, props }));
  }
  return real.then((data) => ({ data, props: undefined }));
}

function isSdkStream(
  data: unknown,
): data is AsyncIterable<unknown> & { controller: AbortController } {
  return (
    typeof data === 'object' &&
    data !== null &&
    Symbol.asyncIterator in data &&
    (data as { controller?: unknown }).controller instanceof AbortController
  );
}

/** Whether a hard-stop budget limits a dimension that output tokens cost. */
function hardLimited(budgets: readonly Budget[], perUnit: Amounts): boolean {
  const dims = Object.keys(perUnit) as Dimension[];
  return budgets.some(
    (b) => b.policy === 'hard-stop' && dims.some((d) => b.limits[d] !== undefined),
  );
}

/** Whether the reservation took all a hard-stop budget had left (so the budget set the cap). */
function tookEverythingLeft(reservation: Reservation, perUnit: Amounts): boolean {
  return reservation.budgets.some((budget, i) => {
    if (budget.policy !== 'hard-stop') return false;
    const { used, reserved } = reservation.snapshots[i];
    return (Object.keys(perUnit) as Dimension[]).some((d) => {
      const limit = budget.limits[d];
      const per = perUnit[d] ?? 0;
      return limit !== undefined && per > 0 && limit - (used[d] ?? 0) - (reserved[d] ?? 0) < per;
    });
  });
}

/** The hard-stop budget (and dimension) with the least room left after the reservation. */
function bindingBudget(reservation: Reservation): { budget: Budget; dimension: Dimension } {
  let best: { budget: Budget; dimension: Dimension; room: number } | undefined;
  reservation.budgets.forEach((budget, i) => {
    if (budget.policy !== 'hard-stop') return;
    const { used, reserved } = reservation.snapshots[i];
    for (const dimension of ['tokens', 'usd'] as const) {
      const limit = budget.limits[dimension];
      if (limit === undefined) continue;
      const room = (limit - (used[dimension] ?? 0) - (reserved[dimension] ?? 0)) / limit;
      if (!best || room < best.room) best = { budget, dimension, room };
    }
  });
  return best ?? { budget: reservation.budgets[0], dimension: 'tokens' };
}

/** The first `degrade` budget whose committed usage reached `degradeAt` of its limit. */
function degradeBudget(
  budgets: readonly Budget[],
  reservation: Reservation,
  model: string,
): (Budget & { fallbackModel: string }) | undefined {
  for (let i = 0; i < budgets.length; i++) {
    const budget = budgets[i];
    if (budget.policy !== 'degrade' || !budget.fallbackModel || budget.fallbackModel === model)
      continue;
    const degradeAt = budget.degradeAt ?? 0.9;
    const used = reservation.snapshots[i].used;
    const reached = (Object.keys(budget.limits) as Dimension[]).some(
      (d) => (used[d] ?? 0) >= thresholdAmount(degradeAt, budget.limits[d] as number),
    );
    if (reached) return budget as Budget & { fallbackModel: string };
  }
  return undefined;
}

/** The `degrade` budget with a `fallback` that refused the call, if that is what refused it. */
function fallbackBudget(
  budgets: readonly Budget[],
  error: BudgetExceededError,
): Budget | undefined {
  const budget = budgets.find((b) => b.scope === error.scope && b.key === error.key);
  return budget?.policy === 'degrade' && budget.fallback ? budget : undefined;
}

async function answerWithFallback(
  frame: BudgetFrame,
  budget: Budget,
  body: RequestBody,
  model: string,
): Promise<StartedCall> {
  const fallback = budget.fallback as (request: RequestBody) => unknown;
  const data = await fallback(body);
  const { ledger } = frame;
  ledger.publish({
    type: 'degraded',
    action: 'fallback-response',
    scope: budget.scope,
    key: budget.key,
    at: ledger.clock(),
    model,
  });
  const response = () =>
    new Response(JSON.stringify(data ?? null), {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-tokencap-fallback': budget.id },
    });
  return {
    parse: async () => ({ data, props: undefined }),
    response: async () => response(),
    rawForCaller: async () => response(),
    abandon: () => {},
  };
}
