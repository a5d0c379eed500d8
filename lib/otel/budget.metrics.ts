import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { DIMENSIONS } from '../core/budget.js';
import type { RefusedEvent, SettledCall, UsageEvent } from '../core/events.js';
import type { ModelCatalog } from '../models/model.catalog.js';
import type { LabelBounder } from './label.bounder.js';

// The GenAI semantic conventions' advised buckets for gen_ai.client.token.usage.
const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
const UTILIZATION_BUCKETS = [0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 1];

/** The labels that bound each metric's series: models and scopes (everything else is a fixed set). */
export interface MetricLabels {
  model: LabelBounder;
  scope: LabelBounder;
}

/**
 * Tokencap's instruments on one meter. No label carries a budget key: series are bounded by
 * scope (declared in code), dimension and policy (fixed sets), provider (one per adapter) and
 * model (see {@link MetricLabels}).
 */
export class BudgetMetrics {
  private readonly tokenUsage: Histogram;
  private readonly cost: Counter;
  private readonly refusals: Counter;
  private readonly budgetUsage: Histogram;
  private readonly budgetLimit: Histogram;
  private readonly utilization: Histogram;

  constructor(
    meter: Meter,
    private readonly labels: MetricLabels,
    private readonly catalog: ModelCatalog,
  ) {
    this.tokenUsage = meter.createHistogram('gen_ai.client.token.usage', {
      unit: '{token}',
      description: 'Number of input and output tokens used.',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
    this.cost = meter.createCounter('tokencap.cost', {
      unit: 'USD',
      description: 'Dollars the metered calls cost by the model catalog (priced models only).',
    });
    this.refusals = meter.createCounter('tokencap.refusals', {
      unit: '{refusal}',
      description: 'Calls a budget refused before they ran, and streams it stopped.',
    });
    this.budgetUsage = meter.createHistogram('tokencap.budget.usage', {
      description:
        "A budget's committed usage after each commit, in its dimension's unit (tokens, USD, requests).",
    });
    this.budgetLimit = meter.createHistogram('tokencap.budget.limit', {
      description:
        "A budget's limit at each commit, in its dimension's unit (tokens, USD, requests).",
    });
    this.utilization = meter.createHistogram('tokencap.budget.utilization', {
      unit: '1',
      description: "A budget's committed usage over its limit after each commit.",
      advice: { explicitBucketBoundaries: UTILIZATION_BUCKETS },
    });
  }

  call(call: SettledCall): void {
    const attributes: Attributes = {
      'gen_ai.operation.name': call.operation,
      'gen_ai.request.model': this.labels.model.label(call.requestModel),
      'gen_ai.response.model': this.labels.model.label(call.usage.model),
      'tokencap.usage.source': call.usage.source,
    };
    if (call.provider !== undefined) attributes['gen_ai.provider.name'] = call.provider;
    this.tokenUsage.record(call.usage.inputTokens, { ...attributes, 'gen_ai.token.type': 'input' });
    this.tokenUsage.record(call.usage.outputTokens, {
      ...attributes,
      'gen_ai.token.type': 'output',
    });
    // Priced as the metered call prices it: by the model sent.
    if (this.catalog.price(call.requestModel) !== undefined) {
      delete attributes['gen_ai.response.model'];
      this.cost.add(this.catalog.costMicros(call.requestModel, call.usage) / 1e6, attributes);
    }
  }

  refused(event: RefusedEvent): void {
    this.refusals.add(1, {
      'tokencap.scope': this.labels.scope.label(event.scope),
      'tokencap.dimension': event.dimension,
      'tokencap.policy': event.policy,
    });
  }

  usage(event: UsageEvent): void {
    const scope = this.labels.scope.label(event.scope);
    for (const dimension of DIMENSIONS) {
      const usage = event.dimensions[dimension];
      if (!usage) continue;
      const attributes = { 'tokencap.scope': scope, 'tokencap.dimension': dimension };
      this.budgetUsage.record(usage.used, attributes);
      this.budgetLimit.record(usage.limit, attributes);
      if (usage.limit > 0) this.utilization.record(usage.used / usage.limit, attributes);
    }
  }
}
