import { type Attributes, context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  MetricReader,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Ledger } from '../../../lib/core/ledger.js';
import {
  instrumentTokencap,
  type TokencapInstrumentationOptions,
} from '../../../lib/otel/index.js';

/** A reader that exports only when a test asks (`collect()`), with cumulative sums. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** One exported point: its attributes, and its value (a number, or a histogram's count and sum). */
export interface Point {
  attributes: Attributes;
  value: number;
  count: number;
}

export interface Telemetry {
  /** Runs `fn` inside a new active span, ends it, and returns the exported span with `fn`'s result. */
  inSpan<T>(fn: () => Promise<T>): Promise<{ result: T; span: FinishedSpan }>;
  /** Instruments `ledger` on this telemetry's meter provider; disposed after the test. */
  instrument(ledger: Ledger, options?: Partial<TokencapInstrumentationOptions>): () => void;
  /** The points of metric `name` as the SDK exports them now (empty when never recorded). */
  points(name: string): Promise<Point[]>;
  /** The unit the SDK exported metric `name` with. */
  unit(name: string): Promise<string | undefined>;
  meterProvider: MeterProvider;
  reader: MetricReader;
}

export type FinishedSpan = ReturnType<InMemorySpanExporter['getFinishedSpans']>[number];

/**
 * An OpenTelemetry SDK on in-memory exporters: a fresh meter provider and span exporter per test,
 * and the async-hooks context manager that makes a span active across awaits (as in an app).
 */
export function useTelemetry(): Telemetry {
  const spans = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spans)],
  }).getTracer('test');
  const contextManager = new AsyncLocalStorageContextManager();
  let reader = new TestReader();
  let meterProvider = new MeterProvider({ readers: [reader] });
  const disposers: (() => void)[] = [];

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  afterAll(() => {
    context.disable();
  });
  afterEach(async () => {
    for (const dispose of disposers.splice(0)) dispose();
    spans.reset();
    await meterProvider.shutdown();
    reader = new TestReader();
    meterProvider = new MeterProvider({ readers: [reader] });
  });

  const collect = async (name: string) => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw errors[0];
    return resourceMetrics.scopeMetrics
      .filter((s) => s.scope.name === 'tokencap')
      .flatMap((s) => s.metrics)
      .find((m) => m.descriptor.name === name);
  };

  return {
    get meterProvider() {
      return meterProvider;
    },
    get reader() {
      return reader;
    },
    async inSpan(fn) {
      let id = '';
      const result = await tracer.startActiveSpan('request', async (span) => {
        id = span.spanContext().spanId;
        try {
          return await fn();
        } finally {
          span.end();
        }
      });
      // The simple span processor exports a span as it ends.
      const span = spans.getFinishedSpans().find((s) => s.spanContext().spanId === id);
      if (!span) throw new Error('The span was not exported.');
      return { result, span };
    },
    instrument(ledger, options = {}) {
      const dispose = instrumentTokencap({ ledger, meterProvider, ...options });
      disposers.push(dispose);
      return dispose;
    },
    async points(name) {
      const metric = await collect(name);
      if (!metric) return [];
      if (metric.dataPointType === DataPointType.HISTOGRAM) {
        return (metric as HistogramMetricData).dataPoints.map((p) => ({
          attributes: p.attributes,
          value: p.value.sum ?? 0,
          count: p.value.count,
        }));
      }
      return (metric as SumMetricData).dataPoints.map((p) => ({
        attributes: p.attributes,
        value: p.value,
        count: 1,
      }));
    },
    async unit(name) {
      return (await collect(name))?.descriptor.unit;
    },
  };
}

/** The sum of the points whose attributes include every one of `match`. */
export function total(points: readonly Point[], match: Attributes = {}): number {
  return points
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}
