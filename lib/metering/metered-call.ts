import { type Amounts, resetOf, toUserUnits } from '../core/budget.js';
import type { BudgetFrame } from '../core/budget-context.js';
import type { Usage, UsageDetails } from '../core/events.js';
import { bindingBudget } from '../core/policies.js';
import type { Reservation } from '../core/reservation.js';
import { BudgetExceededError, type BudgetExceededDetails } from '../errors.js';
import type { ModelCatalog } from '../models/model.catalog.js';
import { OutputCounter } from './output.counter.js';
import type {
  InputCount,
  ProviderEndpoint,
  ReportedUsage,
  StreamObserver,
} from './provider-endpoint.interface.js';
import type { StreamMetering } from './stream.meter.js';
import { amountsOf } from './usage.meter.js';

/** What was decided before the request went out. */
export interface CallPlan {
  /** The model sent (a `degrade` budget's fallback model when it switched). */
  readonly model: string;
  /** Set when a budget of the call limits dollars. */
  readonly catalog: ModelCatalog | undefined;
  /**
   * Whether output the caller did not see may have been billed (the catalog's reasoning flag, or
   * an endpoint whose unreported output is charged as granted).
   */
  readonly reasoning: boolean;
  readonly input: InputCount;
  /** Output tokens granted per choice. */
  readonly units: number;
  readonly choices: number;
  /** Output tokens (all choices) past which a stream is cut; `undefined` when no budget caps it. */
  readonly outputLimit: number | undefined;
  /** Output tokens per choice the request was sent with (after clamping); unset when uncapped. */
  readonly maxOutputTokens: number | undefined;
  /** Whether the budget, not the caller, set the output cap. */
  readonly budgetCut: boolean;
  readonly stream: boolean;
  /** Whether Tokencap asked for the stream's usage (and hides it). */
  readonly injected: boolean;
}

/**
 * One call in flight after its reservation: settles it exactly once, from the provider's usage
 * or, when that never came, from an estimate that is never 0 (and never under what a reasoning
 * model may have billed unseen). Provider-neutral: the adapter reads usage and output, the
 * transport (an SDK wrapper, a framework middleware) says when the call ended and how.
 */
export class MeteredCall {
  constructor(
    private readonly frame: BudgetFrame,
    private readonly endpoint: ProviderEndpoint,
    private readonly reservation: Reservation,
    readonly plan: CallPlan,
  ) {}

  /** Whether the reservation has been committed or released. */
  get isSettled(): boolean {
    return this.reservation.isSettled;
  }

  /** No response came (an HTTP error, a timeout, a reset): the provider billed nothing. */
  async release(): Promise<void> {
    await this.reservation.release();
  }

  /** Settles from a non-streamed response's data; nothing is returned when the store committed synchronously. */
  settleFromData(data: unknown): Promise<void> | undefined {
    return this.settleNow(this.endpoint.usageOf(data), () => {
      const counter = this.outputCounter();
      this.endpoint.outputOf(data, counter);
      return counter.exact();
    });
  }

  /**
   * A response came but could not be read, or the caller dropped the call unread: charged what was
   * reserved, the most it can have cost.
   */
  async chargeReservation(): Promise<void> {
    await this.settleNow(undefined, () => this.plan.units * this.plan.choices);
  }

  /**
   * The request left but no response came back to read (the caller aborted it): charged the
   * counted input and no output, or the grant where unseen output may have been billed. Never 0.
   */
  async chargeEstimate(): Promise<void> {
    await this.settleNow(undefined, () => 0);
  }

  /** The metering of this call's stream, for {@link meterItems} or {@link meterCopy}. */
  streamMetering(): StreamMetering {
    const observer = this.endpoint.streamObserver(this.plan.injected);
    const counter = this.outputCounter();
    const settle = async () => {
      await this.settleNow(observer.usage, () => counter.exact());
    };
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
        return this.stopError({ ...this.plan.input, outputTokens: output });
      },
    };
  }

  /** A fresh observer of this call's stream, for a reader that only needs what it hides. */
  streamFilter(): StreamObserver {
    return this.endpoint.streamObserver(this.plan.injected);
  }

  private outputCounter(): OutputCounter {
    const { endpoint } = this;
    const count =
      endpoint.countOutput && ((text: string, model: string) => endpoint.countOutput!(text, model));
    return new OutputCounter(this.plan.model, count);
  }

  private settleNow(
    reported: ReportedUsage | undefined,
    seen: () => number,
  ): Promise<void> | undefined {
    if (this.reservation.isSettled) return undefined;
    const details = this.usageOf(reported, seen);
    const { ledger } = this.frame;
    // Published before the commit, in the caller's async context, so a tracer finds its span.
    if (ledger.callsObserved) {
      ledger.publishCall({
        at: ledger.clock(),
        provider: this.endpoint.provider,
        operation: this.endpoint.operation ?? 'chat',
        requestModel: this.plan.model,
        maxOutputTokens: this.plan.maxOutputTokens,
        usage: details,
        budgets: this.frame.budgets.map(({ scope, key }) => ({ scope, key })),
      });
    }
    const done = this.reservation.commitNow(this.amounts(details), details);
    return typeof done === 'boolean' ? undefined : done;
  }

  /**
   * The provider's usage where it reported it, Tokencap's own figures elsewhere: the counted
   * input, and the output seen. Hidden reasoning is billed before the first visible byte and is
   * never seen, so a reasoning model whose output was not reported is charged at least the
   * output it was granted: what the call may have cost, never only what was seen.
   */
  private usageOf(reported: ReportedUsage | undefined, seen: () => number): UsageDetails {
    const { plan } = this;
    const provider = reported?.inputTokens !== undefined && reported.outputTokens !== undefined;
    let outputTokens = reported?.outputTokens;
    if (outputTokens === undefined) {
      outputTokens = seen();
      if (plan.reasoning) outputTokens = Math.max(outputTokens, plan.units * plan.choices);
    }
    const base =
      reported?.inputTokens === undefined ? plan.input : { inputTokens: reported.inputTokens };
    const details: UsageDetails = {
      model: reported?.model ?? plan.model,
      ...base,
      outputTokens,
      source: provider ? 'provider' : 'estimate',
    };
    for (const key of OPTIONAL_COUNTS) {
      const value = reported?.[key];
      if (value !== undefined) details[key] = value;
    }
    return details;
  }

  private amounts(usage: Usage): Amounts {
    return amountsOf(this.plan.model, usage, this.plan.catalog);
  }

  /** The error that ends a stream the budget stopped; also published as a `refused` event. */
  private async stopError(usage: Usage): Promise<BudgetExceededError> {
    const { ledger } = this.frame;
    const { budget, dimension } = bindingBudget(this.reservation);
    // Every amount in the unit of the binding dimension: dollars for usd, not micro-dollars.
    const limit = toUserUnits(dimension, budget.limits[dimension] as number);
    const requested = toUserUnits(dimension, this.amounts(usage)[dimension] ?? 0);
    let used = 0;
    let reserved = 0;
    try {
      const [now] = await ledger.usage([budget]);
      used = now.dimensions[dimension]?.used ?? 0;
      reserved = now.dimensions[dimension]?.reserved ?? 0;
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
    const at = ledger.clock();
    ledger.publish({ type: 'refused', at, ...details });
    return new BudgetExceededError({ ...details, resetsAt: resetOf(budget, at) });
  }
}

const OPTIONAL_COUNTS = [
  'cachedInputTokens',
  'cacheWrite5mTokens',
  'cacheWrite1hTokens',
  'reasoningTokens',
] as const;
