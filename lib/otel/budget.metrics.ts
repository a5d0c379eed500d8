import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { DIMENSIONS, type Dimension } from '../core/budget.js';
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
  private readonly callAttributes = new Map<
    string,
    { input: Attributes; output: Attributes; cost: Attributes }
  >();
  private readonly scopeAttributes = new Map<string, Attributes>();

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
    const requestModel = this.labels.model.label(call.requestModel);
    const responseModel = this.labels.model.label(call.usage.model);
    const { provider, operation } = call;
    const { source } = call.usage;
    // Attribute sets are built once per label combination (a bounded set), not per call.
    const key = `${requestModel}\0${responseModel}\0${provider}\0${operation}\0${source}`;
    let sets = this.callAttributes.get(key);
    if (!sets) {
      const common: Attributes = {
        'gen_ai.operation.name': operation,
        'gen_ai.request.model': requestModel,
        'tokencap.usage.source': source,
      };
      if (provider !== undefined) common['gen_ai.provider.name'] = provider;
      const tokens = { ...common, 'gen_ai.response.model': responseModel };
      sets = {
        input: { ...tokens, 'gen_ai.token.type': 'input' },
        output: { ...tokens, 'gen_ai.token.type': 'output' },
        cost: common,
      };
      this.callAttributes.set(key, sets);
    }
    this.tokenUsage.record(call.usage.inputTokens, sets.input);
    this.tokenUsage.record(call.usage.outputTokens, sets.output);
    // Priced as the metered call prices it: by the model sent.
    if (this.catalog.price(call.requestModel) !== undefined) {
      this.cost.add(this.catalog.costMicros(call.requestModel, call.usage) / 1e6, sets.cost);
    }
  }

  refused(event: RefusedEvent): void {
    this.refusals.add(1, {
      ...this.budgetAttributes(event.scope, event.dimension),
      'tokencap.policy': event.policy,
    });
  }

  usage(event: UsageEvent): void {
    for (const dimension of DIMENSIONS) {
      const usage = event.dimensions[dimension];
      if (!usage) continue;
      const attributes = this.budgetAttributes(event.scope, dimension);
      this.budgetUsage.record(usage.used, attributes);
      this.budgetLimit.record(usage.limit, attributes);
      if (usage.limit > 0) this.utilization.record(usage.used / usage.limit, attributes);
    }
  }

  private budgetAttributes(scope: string, dimension: Dimension): Attributes {
    const label = this.labels.scope.label(scope);
    const key = `${label}\0${dimension}`;
    let attributes = this.scopeAttributes.get(key);
    if (!attributes) {
      attributes = { 'tokencap.scope': label, 'tokencap.dimension': dimension };
      this.scopeAttributes.set(key, attributes);
    }
    return attributes;
  }
}
