import { type MeterProvider, metrics } from '@opentelemetry/api';
import type { Subscription } from 'rxjs';
import { assertScopeName } from '../core/budget.js';
import { describeValue } from '../core/describe-value.js';
import { assertKnownOptions } from '../core/known-options.guard.js';
import type { Ledger } from '../core/ledger.js';
import { isRelayed } from '../core/relayed-event.js';
import { assertWarnLogger, warnSafely } from '../core/warn-logger.js';
import { TokencapConfigError } from '../errors.js';
import { modelCatalogFor } from '../models/catalog.binding.js';
import { ModelCatalog } from '../models/model.catalog.js';
import { BudgetMetrics } from './budget.metrics.js';
import { LabelBounder } from './label.bounder.js';
import { SpanAnnotator } from './span.annotator.js';

/** Options of {@link instrumentTokencap}. */
export interface TokencapInstrumentationOptions {
  /** The ledger whose calls and events are measured (`BudgetService.ledger` in a Nest app). */
  ledger: Ledger;
  /**
   * Where the metrics go; `false` records none.
   * @default the global meter provider (`metrics.getMeterProvider()`)
   */
  meterProvider?: MeterProvider | false;
  /**
   * Whether every commit records `tokencap.budget.usage`, `.limit` and `.utilization` (three
   * points per budget charged and dimension it limits: the larger part of the recording cost).
   * @default true
   */
  budgetHistograms?: boolean;
  /**
   * Whether each metered call writes the GenAI usage attributes, and each refusal, threshold,
   * exhaustion and degradation a span event, on the active span.
   * @default true
   */
  spans?: boolean;
  /**
   * Which model names label metrics as themselves; any other is labelled `other`. `'catalog'`:
   * the models the catalog knows, each by its catalog name (`gpt-4o-2024-08-06` → `gpt-4o`). A
   * list: those names exactly. Spans always carry the names as sent and answered.
   * @default 'catalog'
   */
  models?: 'catalog' | readonly string[];
  /**
   * Which scopes label metrics as themselves; any other is labelled `other`.
   * @default every scope (scopes are declared in code), up to {@link maxLabelValues}
   */
  scopes?: readonly string[];
  /**
   * The most distinct models, and the most distinct scopes, that ever label a metric: past it, a
   * new name is labelled `other` (with one warning), so no input can grow series without end.
   * @default 100
   */
  maxLabelValues?: number;
  /** The catalog that names and prices models. @default the ledger's (see `bindModelCatalog`) */
  catalog?: ModelCatalog;
  /** Receives the warning when a label reaches {@link maxLabelValues}. @default console */
  logger?: {
    /** Called with one line per warning. */
    warn(message: string): void;
  };
}

/**
 * Measures a ledger with OpenTelemetry, from now until the returned function is called (or the
 * ledger closes): GenAI token usage and Tokencap's cost, refusal and budget metrics, and usage
 * attributes and budget events on the active span. Needs `@opentelemetry/api`; Tokencap records
 * through the API only, so an app without an OpenTelemetry SDK pays next to nothing.
 * @throws TokencapConfigError naming the bad option.
 * @example
 * const stop = instrumentTokencap({ ledger: app.get(BudgetService).ledger });
 */
export function instrumentTokencap(options: TokencapInstrumentationOptions): () => void {
  const { ledger } = validate(options);
  const subscriptions: Subscription[] = [];
  const provider = options.meterProvider ?? metrics.getMeterProvider();
  if (provider !== false) {
    const max = options.maxLabelValues ?? 100;
    const logger = options.logger ?? console;
    const warned = new Set<string>();
    const overflow = (label: string) => (name: string) => {
      if (warned.has(label)) return;
      warned.add(label);
      // Guarded: the point being recorded (as `other`) must not be lost to a failing logger.
      warnSafely(
        logger,
        `Tokencap: more than ${max} ${label} values label metrics; ${JSON.stringify(name.slice(0, 64))} and later ones are reported as "other" (raise maxLabelValues, or list the ${label}s).`,
      );
    };
    const catalog = options.catalog ?? modelCatalogFor(ledger);
    const models = options.models ?? 'catalog';
    const modelNames = models === 'catalog' ? undefined : new Set(models);
    const scopeNames = options.scopes && new Set(options.scopes);
    const meter = provider.getMeter('tokencap');
    const histograms = options.budgetHistograms !== false;
    const budgetMetrics = new BudgetMetrics(
      meter,
      {
        model: new LabelBounder(
          (name) =>
            modelNames ? (modelNames.has(name) ? name : undefined) : catalog.knownName(name),
          max,
          overflow('model'),
        ),
        scope: new LabelBounder(
          (name) => (!scopeNames || scopeNames.has(name) ? name : undefined),
          max,
          overflow('scope'),
        ),
      },
      catalog,
    );
    subscriptions.push(
      ledger.calls$.subscribe((call) => budgetMetrics.call(call)),
      ledger.events$.subscribe((event) => {
        // Another replica's event (RedisEventRelay) is that replica's to record: counted here
        // too, metrics summed over replicas would count it once per replica.
        if (isRelayed(event)) return;
        if (event.type === 'refused') budgetMetrics.refused(event);
        else if (event.type === 'usage' && histograms) budgetMetrics.usage(event);
      }),
    );
  }
  if (options.spans !== false) {
    const spans = new SpanAnnotator();
    subscriptions.push(
      ledger.calls$.subscribe((call) => spans.call(call)),
      // A relayed event belongs to a call of another replica, not to a span active here.
      ledger.events$.subscribe((event) => isRelayed(event) || spans.event(event)),
    );
  }
  return () => {
    for (const subscription of subscriptions) subscription.unsubscribe();
  };
}

function validate(options: TokencapInstrumentationOptions): TokencapInstrumentationOptions {
  if (options === null || typeof options !== 'object') {
    throw new TokencapConfigError('instrumentTokencap: expected an options object with a ledger.');
  }
  assertKnownOptions(options, KNOWN_OPTIONS, 'instrumentTokencap');
  const { ledger, meterProvider, models, scopes, maxLabelValues, catalog, logger } = options;
  if (typeof ledger?.calls$?.subscribe !== 'function') {
    throw new TokencapConfigError(
      'Invalid ledger option of instrumentTokencap: expected a Ledger (new Ledger() or BudgetService.ledger).',
    );
  }
  if (
    meterProvider !== undefined &&
    meterProvider !== false &&
    typeof meterProvider?.getMeter !== 'function'
  ) {
    throw new TokencapConfigError(
      'Invalid meterProvider option of instrumentTokencap: expected a MeterProvider or false.',
    );
  }
  if (
    models !== undefined &&
    models !== 'catalog' &&
    !(isNameList(models) && models.every((name) => name.length > 0))
  ) {
    throw new TokencapConfigError(
      `Invalid models option of instrumentTokencap ${JSON.stringify(models)}: expected 'catalog' or a list of non-empty model names.`,
    );
  }
  if (scopes !== undefined) {
    if (!isNameList(scopes)) {
      throw new TokencapConfigError(
        `Invalid scopes option of instrumentTokencap ${JSON.stringify(scopes)}: expected a list of scope names.`,
      );
    }
    // A name no budget can have would label nothing: most likely a typo.
    for (const scope of scopes) {
      assertScopeName(scope, 'Scope name in the scopes option of instrumentTokencap:');
    }
  }
  if (
    maxLabelValues !== undefined &&
    (!Number.isSafeInteger(maxLabelValues) || maxLabelValues < 1)
  ) {
    throw new TokencapConfigError(
      `Invalid maxLabelValues option of instrumentTokencap ${String(maxLabelValues)}: expected a positive whole number.`,
    );
  }
  for (const name of ['spans', 'budgetHistograms'] as const) {
    const value: unknown = options[name];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TokencapConfigError(
        `Invalid ${name} option of instrumentTokencap ${describeValue(value)}: expected true or false.`,
      );
    }
  }
  if (catalog !== undefined && !(catalog instanceof ModelCatalog)) {
    throw new TokencapConfigError(
      'Invalid catalog option of instrumentTokencap: expected a ModelCatalog.',
    );
  }
  assertWarnLogger(logger, 'logger option of instrumentTokencap');
  return options;
}

const KNOWN_OPTIONS: readonly (keyof TokencapInstrumentationOptions)[] = [
  'ledger',
  'meterProvider',
  'budgetHistograms',
  'spans',
  'models',
  'scopes',
  'maxLabelValues',
  'catalog',
  'logger',
];

function isNameList(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((name) => typeof name === 'string');
}
