import type { Dimension, Policy } from './budget.js';

/** Usage of one dimension, in user units (dollars for `usd`). */
export interface DimensionUsage {
  /** The limit in force: the declared one plus {@link credit}. */
  limit: number;
  used: number;
  reserved: number;
  /** `limit - used - reserved`, never below zero. */
  remaining: number;
  /** Extra allowance granted for the current window (`BudgetService.credit`); 0 when none. */
  credit: number;
  /**
   * Units spent per second in this window so far (see docs/operations.md); null until there are
   * enough commits and time behind it to tell.
   */
  burnRate: number | null;
  /** When the budget runs out at {@link burnRate} (epoch ms); null without a rate, or once spent. */
  projectedExhaustion: number | null;
}

/**
 * A budget's usage in the current window. The top-level numbers are its primary dimension
 * (tokens when it limits tokens, else dollars, else requests); `dimensions` has every one it limits.
 */
export interface BudgetUsage extends DimensionUsage {
  scope: string;
  key: string;
  dimension: Dimension;
  dimensions: Partial<Record<Dimension, DimensionUsage>>;
  /** When the current window ends and usage starts afresh (epoch ms); null for a budget without a window. */
  windowEnd: number | null;
}

interface BudgetEventBase {
  scope: string;
  key: string;
  /** Epoch ms. */
  at: number;
  /**
   * Set on an event another replica published, re-emitted here by a `RedisEventRelay`; unset on
   * this process's own events. Whoever counts per-call events (`refused`, `usage`, `degraded`)
   * across replicas counts only unrelayed ones, or each is counted once per replica.
   */
  relayed?: true;
}

/** Committed usage first reached `threshold × limit` in this window. Fires once per key, dimension and window. */
export interface ThresholdEvent extends BudgetEventBase {
  type: 'threshold';
  dimension: Dimension;
  threshold: number;
  used: number;
  limit: number;
}

/** Committed usage reached the limit. Fires once per key, dimension and window. */
export interface ExhaustedEvent extends BudgetEventBase {
  type: 'exhausted';
  dimension: Dimension;
  used: number;
  limit: number;
}

/**
 * At the current burn rate, the budget runs out before its window ends (a budget without a
 * window: within its `forecastHorizon`). Fires once per key, dimension and window.
 */
export interface ForecastEvent extends BudgetEventBase {
  type: 'forecast';
  dimension: Dimension;
  used: number;
  limit: number;
  /** Units per second (dollars for `usd`) spent in this window so far. */
  rate: number;
  /** When the budget runs out at that rate (epoch ms). */
  projectedExhaustion: number;
  /** When the window ends (epoch ms); null for a budget without a window. */
  windowEnd: number | null;
}

/** An operator started a key's current window afresh (`BudgetService.reset`). */
export interface ResetEvent extends BudgetEventBase {
  type: 'reset';
  /** The usage the reset cleared, in user units. */
  cleared: Partial<Record<Dimension, number>>;
  /** The budget's usage after the reset. */
  usage: BudgetUsage;
}

/** An operator granted a key extra allowance for its current window (`BudgetService.credit`). */
export interface CreditEvent extends BudgetEventBase {
  type: 'credit';
  /** What this credit added, in user units. */
  granted: Partial<Record<Dimension, number>>;
  /** The budget's usage after it, its limits raised. */
  usage: BudgetUsage;
}

/** A call was refused before it ran (or a stream was stopped). */
export interface RefusedEvent extends BudgetEventBase {
  type: 'refused';
  dimension: Dimension;
  policy: Policy;
  used: number;
  reserved: number;
  limit: number;
  requested: number;
}

/**
 * Token counts of one call: the one usage record of the library, used by counting, pricing,
 * provider adapters and `usage` events. Every field is a whole number of tokens.
 */
export interface Usage {
  /** Every input token, cache reads and cache writes included. */
  inputTokens: number;
  /** Every output token, hidden reasoning included. */
  outputTokens: number;
  /** Of `inputTokens`, those read from the provider's prompt cache. */
  cachedInputTokens?: number;
  /** Of `inputTokens`, those written to a prompt cache that lives 5 minutes (Anthropic). */
  cacheWrite5mTokens?: number;
  /** Of `inputTokens`, those written to a prompt cache that lives 1 hour (Anthropic). */
  cacheWrite1hTokens?: number;
  /** Of `outputTokens`, the hidden reasoning (thinking) tokens. */
  reasoningTokens?: number;
}

/** The usage behind a commit, as a `usage` event reports it: the {@link Usage} record, plus whose numbers they are. */
export interface UsageDetails extends Usage {
  /** The model the provider answered with (it may name a dated snapshot). */
  model: string;
  /**
   * `provider` when the counts are the provider's usage report; `estimate` when Tokencap counted
   * them, or charged what the call may have cost, because the report never came or was malformed.
   */
  source: 'provider' | 'estimate';
}

/** Usage was committed; one per budget per commit, for meters and dashboards. */
export interface UsageEvent extends BudgetEventBase, Omit<BudgetUsage, 'scope' | 'key'> {
  type: 'usage';
  /** Set when the commit came with details (the client wrappers always send them). */
  details?: UsageDetails;
}

/**
 * One metered call, settled: published on `Ledger.calls$` once per call (where `usage` events come
 * once per budget), for meters and traces that count calls rather than budgets.
 */
export interface SettledCall {
  /** Epoch ms. */
  at: number;
  /** The provider, named as the OpenTelemetry GenAI conventions name it (`openai`, `anthropic`). */
  provider: string | undefined;
  /** What the call did, in the conventions' words: `chat` or `embeddings`. */
  operation: string;
  /** The model the request was sent with (a `degrade` budget's fallback model when it switched). */
  requestModel: string;
  /** Output tokens per choice the request was sent with, after Tokencap capped it; unset when uncapped. */
  maxOutputTokens: number | undefined;
  /** What the call was charged; `usage.model` is the model the provider answered with. */
  usage: UsageDetails;
  /** The budgets it was charged to. */
  budgets: { scope: string; key: string }[];
}

/** A `degrade` budget changed what a call does: a cheaper model, or a fallback answer without a call. */
export interface DegradedEvent extends BudgetEventBase {
  type: 'degraded';
  action: 'fallback-model' | 'fallback-response';
  model: string;
  fallbackModel?: string;
}

/** A commit or release the Ledger could not write to its store (see `StoreErrorEvent.unwritten`). */
export interface UnwrittenSettlement {
  kind: 'commit' | 'release';
  reservationId: string;
  /** The budgets it settles. */
  budgets: { scope: string; key: string }[];
  /** For a commit: the usage that never reached the store, in user units (dollars for `usd`). */
  amounts?: Partial<Record<Dimension, number>>;
}

/** The ledger store failed; `mode` says what Tokencap did about it. */
export interface StoreErrorEvent {
  type: 'store-error';
  at: number;
  mode: 'fail-closed' | 'fail-open';
  message: string;
  /**
   * Set when settlements are given up: the ones `Ledger.close()` could not write before its
   * deadline, or the oldest one dropped when too many were waiting for the store.
   */
  unwritten?: UnwrittenSettlement[];
}

/** Everything `events$` publishes, discriminated on `type`. */
export type TokencapEvent =
  | ThresholdEvent
  | ExhaustedEvent
  | ForecastEvent
  | RefusedEvent
  | UsageEvent
  | DegradedEvent
  | StoreErrorEvent
  | ResetEvent
  | CreditEvent;
