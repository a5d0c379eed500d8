// Section 6: what `instrumentTokencap` costs. Reserve + commit pairs per second on the memory
// store with three nested budgets (each commit publishes three `usage` events, each recorded in
// three histograms), without and with the instrumentation on an SDK meter provider; and the cost
// of recording one settled call (two token-usage points and a cost point).

import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Ledger, MemoryLedgerStore } from '../lib/core/index.js';
import { instrumentTokencap } from '../lib/otel/index.js';
import { nestedBudgets, pairsPerSecond } from './engine.js';
import {
  fmtCount,
  fmtUs,
  interleave,
  median,
  type Row,
  type SectionResult,
  size,
} from './harness.js';

class QuietReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export async function run(): Promise<SectionResult> {
  const batch = size(20_000, 2_000);
  const rounds = size(15, 5);
  const budgets = nestedBudgets('s-1', 3);
  const plain = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const measured = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const meterProvider = new MeterProvider({ readers: [new QuietReader()] });
  const light = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const stop = instrumentTokencap({ ledger: measured, meterProvider, spans: false });
  const stopLight = instrumentTokencap({
    ledger: light,
    meterProvider,
    spans: false,
    budgetHistograms: false,
  });
  const call = {
    at: 0,
    provider: 'openai',
    operation: 'chat',
    requestModel: 'gpt-4o',
    maxOutputTokens: 256,
    usage: { model: 'gpt-4o', inputTokens: 20, outputTokens: 40, source: 'provider' as const },
    budgets: [],
  };
  const results = await interleave(
    {
      plain: () => pairsPerSecond(plain, budgets, batch),
      measured: () => pairsPerSecond(measured, budgets, batch),
      light: () => pairsPerSecond(light, budgets, batch),
      call: () => {
        const start = performance.now();
        for (let i = 0; i < batch; i++) measured.publishCall(call);
        return batch / ((performance.now() - start) / 1000);
      },
    },
    rounds,
  );
  stop();
  stopLight();
  await Promise.all([plain.close(), measured.close(), light.close(), meterProvider.shutdown()]);
  const perPair = (pps: number) => 1e6 / pps;
  const added = (r: number[]) => median(r.map((m, i) => perPair(m) - perPair(results.plain[i])));
  const rows: Row[] = [
    {
      case: 'memory store, 3 nested budgets, not instrumented',
      metric: 'reserve+commit pairs/s',
      result: `${fmtCount(median(results.plain))}/s`,
      headline: `${fmtCount(median(results.plain))}/s`,
    },
    {
      case: 'memory store, 3 nested budgets, instrumentTokencap',
      metric: 'reserve+commit pairs/s',
      result: `${fmtCount(median(results.measured))}/s; ${fmtUs(added(results.measured))} added per pair`,
      headline: `${fmtCount(median(results.measured))}/s`,
    },
    {
      case: 'memory store, 3 nested budgets, budgetHistograms: false',
      metric: 'reserve+commit pairs/s',
      result: `${fmtCount(median(results.light))}/s; ${fmtUs(added(results.light))} added per pair`,
      headline: `${fmtCount(median(results.light))}/s`,
    },
    {
      case: 'one settled call recorded',
      metric: 'µs per call',
      result: fmtUs(1e6 / median(results.call)),
    },
  ];
  return {
    title: '6. OpenTelemetry',
    rows,
    notes: [
      `OpenTelemetry: ${rounds} interleaved rounds of ${batch}; SDK MeterProvider with a reader that never exports (recording cost only), spans off.`,
    ],
  };
}
