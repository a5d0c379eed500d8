import type { Budget } from '../core/budget.js';
import type { BudgetFrame } from '../core/budget-context.js';
import {
  budgetSetTheCap,
  capsOutput,
  degradeTarget,
  fallbackBudget,
  mayDegrade,
} from '../core/policies.js';
import type { MaybePromise } from '../core/ledger-store.interface.js';
import { andThen, attempt } from '../core/maybe-promise.js';
import { BudgetExceededError, TokencapRequestError } from '../errors.js';
import type { ModelCatalog } from '../models/model.catalog.js';
import { MeteredCall } from './metered-call.js';
import type { InputCount, ProviderEndpoint, RequestBody } from './provider-endpoint.interface.js';
import { serializedBody } from './serialized-body.js';
import { reservationShape } from './usage.meter.js';

/**
 * The most output tokens one choice reserves, whatever cap the request names. No model writes
 * more in one call, so an absurd cap such as `max_tokens: 1e12` reserves this instead: one request
 * cannot hold a `degrade` or `notify` budget at a trillion tokens, nor push the stores' sums past
 * 2^53, where they stop being exact. Under `hard-stop` the request is also sent with the reserved
 * cap, as for any cap larger than what was granted.
 */
export const MAX_OUTPUT_TOKENS = 1_000_000;

/** The most choices (`n`) a call may ask for: the OpenAI API's own limit. */
export const MAX_CHOICES = 128;

/** What a metered call needs besides its request: the budgets, the model facts, the defaults. */
export interface MeteringContext {
  readonly frame: BudgetFrame;
  readonly catalog: ModelCatalog;
  /**
   * Output tokens reserved for a call that names no cap when no `hard-stop` budget caps it (never
   * more than the model's own limit).
   */
  readonly defaultMaxOutputTokens: number;
}

/** A call ready to go out (`send` this body, then settle through `call`), or a `degrade` budget's fallback answer. */
export type PlannedCall =
  | { readonly kind: 'send'; readonly body: RequestBody; readonly call: MeteredCall }
  | { readonly kind: 'fallback'; readonly data: unknown; readonly budget: Budget };

/**
 * Plans one metered call, before anything is sent: applies the policies (a `degrade` budget's
 * fallback model is chosen first, so the call is counted, priced and capped as the model it goes
 * to), counts the input, reserves on every budget of the frame (all or none; the endpoint's
 * minimum output must fit under `hard-stop`, else the call is refused), and clamps the output cap
 * to what was granted. A `degrade` budget with a `fallback` that refuses answers instead.
 *
 * Synchronous when nothing has to be waited for (the in-memory store, a local count, no `degrade`
 * budget to read): it then returns the plan, or throws; otherwise it returns a promise of it.
 * @throws BudgetExceededError when a budget cannot hold the call (a `refused` event fires first).
 * @throws PriceUnknownError when a `usd` budget applies and the model has no price.
 */
export function planCall(
  context: MeteringContext,
  endpoint: ProviderEndpoint,
  body: RequestBody,
): MaybePromise<PlannedCall> {
  const { ledger, budgets } = context.frame;
  endpoint.validate?.(body);
  const requested = endpoint.modelOf(body);
  if (!mayDegrade(budgets, requested)) {
    return countAndReserve(context, endpoint, body, requested, undefined);
  }
  return ledger.usage(budgets).then((usage) => {
    const degrade = degradeTarget(budgets, usage, requested);
    return countAndReserve(context, endpoint, body, requested, degrade);
  });
}

function countAndReserve(
  context: MeteringContext,
  endpoint: ProviderEndpoint,
  body: RequestBody,
  requested: string,
  degrade: DegradeTarget | undefined,
): MaybePromise<PlannedCall> {
  const model = degrade?.fallbackModel ?? requested;
  const counted = endpoint.countInput(endpoint.jsonBody ? serializedBody(body) : body, model);
  return andThen(counted, (input) => reserve(context, endpoint, body, requested, degrade, input));
}

function reserve(
  context: MeteringContext,
  endpoint: ProviderEndpoint,
  body: RequestBody,
  requested: string,
  degrade: DegradeTarget | undefined,
  input: InputCount,
): MaybePromise<PlannedCall> {
  const { frame, catalog } = context;
  const { ledger, budgets } = frame;
  const model = degrade?.fallbackModel ?? requested;
  const output = endpoint.output;
  const choices = output ? output.choices(body) : 0;
  if (choices > MAX_CHOICES) {
    throw new TokencapRequestError(
      'n',
      choices,
      `${endpoint.name} asks for more choices than Tokencap reserves for (at most ` +
        `${MAX_CHOICES}, the OpenAI API's own limit)`,
    );
  }
  // Dollars are metered only where a budget counts them, so unpriced models work elsewhere.
  const priced = budgets.some((b) => b.limits.usd !== undefined) ? catalog : undefined;
  const shape = reservationShape(model, input, choices, priced);
  const modelLimit = catalog.outputLimit(model);
  const asked = output?.requested(body);
  // A cap the caller chose for the requested model can be above what its fallback model accepts:
  // the degraded call is sent with at most the fallback's own limit, never one the API rejects.
  const lowered = degrade !== undefined && modelLimit !== undefined && (asked ?? 0) > modelLimit;
  const cap = lowered ? modelLimit : asked;
  const limited = output !== undefined && capsOutput(budgets, shape.perUnit);
  // Under hard-stop an uncapped call is capped at what its budget has left, but never above the
  // model's own output limit, which the API would reject.
  const ceiling = cap ?? (limited ? modelLimit : undefined);
  // No cap and no hard-stop budget: `max` stays unbounded so the call reserves `ifUnbounded`
  // (defaultMaxOutputTokens); bounding it here would reserve MAX_OUTPUT_TOKENS instead.
  const max =
    ceiling === undefined && !limited ? Infinity : Math.min(ceiling ?? Infinity, MAX_OUTPUT_TOKENS);
  const units = output && {
    min: output.minimum(body),
    max,
    ifUnbounded: Math.min(context.defaultMaxOutputTokens, modelLimit ?? Infinity),
  };

  return attempt(
    () => ledger.reserveNow(budgets, { base: shape.base, perUnit: shape.perUnit, units }),
    (reservation): MaybePromise<PlannedCall> => {
      try {
        let sent = body;
        if (degrade) {
          sent = endpoint.withModel(sent, model);
          ledger.publish({
            type: 'degraded',
            action: 'fallback-model',
            scope: degrade.scope,
            key: degrade.key,
            at: ledger.clock(),
            model: requested,
            fallbackModel: model,
          });
        }
        const clamped = limited && (cap === undefined || cap > reservation.units);
        const reasoning = catalog.isReasoning(model);
        if (clamped) sent = output.withCap(sent, reservation.units, reasoning);
        else if (lowered && output) sent = output.withCap(sent, cap as number, reasoning);
        const stream = endpoint.isStream(sent);
        let injected = false;
        if (stream) ({ body: sent, injected } = endpoint.prepareStream(sent));
        const call = new MeteredCall(frame, endpoint, reservation, {
          model,
          catalog: priced,
          reasoning: endpoint.unreportedOutput === 'granted' || reasoning,
          input,
          units: reservation.units,
          choices,
          outputLimit: limited ? reservation.units * choices : undefined,
          maxOutputTokens: output?.requested(sent),
          budgetCut: clamped && budgetSetTheCap(reservation, shape.perUnit),
          stream,
          injected,
        });
        return { kind: 'send', body: sent, call };
      } catch (error) {
        return reservation.release().then(() => {
          throw error;
        });
      }
    },
    (error) => {
      const budget = error instanceof BudgetExceededError && fallbackBudget(budgets, error);
      if (!budget) throw error;
      return answerWithFallback(frame, budget, body, requested);
    },
  );
}

/** The `degrade` budget whose fallback model a call switches to. */
type DegradeTarget = NonNullable<ReturnType<typeof degradeTarget>>;

async function answerWithFallback(
  frame: BudgetFrame,
  budget: Budget,
  body: RequestBody,
  model: string,
): Promise<PlannedCall> {
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
  return { kind: 'fallback', data, budget };
}
