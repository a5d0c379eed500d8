// Section 2: the budget engine alone. Reserve + commit pairs per second on the memory store with
// one budget and with three nested ones (org > user > session), and on Redis with the number of
// round trips each phase costs.

import {
  type Budget,
  defineBudget,
  Ledger,
  MemoryLedgerStore,
  type ReserveRequest,
} from '../lib/core/index.js';
import {
  fmtCount,
  fmtRatio,
  fmtUs,
  interleave,
  median,
  quantile,
  type Row,
  type SectionResult,
  size,
} from './harness.js';
import { redisEngine } from './redis-engine.js';
import { redisScripts } from './redis-scripts.js';
import { redisInstructions, valgrindAvailable } from './redis-instructions.js';
import { redisServerBinaryAvailable } from '../test/redis/support/redis-env.js';

/** What a 20-token chat call with `max_completion_tokens: 256` reserves, roughly. */
export const REQUEST: ReserveRequest = {
  base: { tokens: 20, requests: 1 },
  perUnit: { tokens: 1 },
  units: { min: 1, max: 256, ifUnbounded: 256 },
};
export const ACTUAL = { tokens: 60, requests: 1 };

/** Budgets that never run out during a benchmark. */
export function nestedBudgets(session: string, depth: 1 | 3): Budget[] {
  const sessionBudget = defineBudget({
    scope: 'session',
    key: session,
    limit: 1e12,
    window: '1h',
    ttl: '2h',
  });
  if (depth === 1) return [sessionBudget];
  return [
    defineBudget({
      scope: 'org',
      key: 'acme',
      limit: { tokens: 1e13, requests: 1e12 },
      window: '30d',
    }),
    defineBudget({ scope: 'user', key: 'u-1', limit: 1e12, window: '1d' }),
    sessionBudget,
  ];
}

/** Runs `pairs` sequential reserve+commit pairs and returns pairs per second. */
export async function pairsPerSecond(
  ledger: Ledger,
  budgets: readonly Budget[],
  pairs: number,
): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < pairs; i++) {
    const reservation = await ledger.reserve(budgets, REQUEST);
    await reservation.commit(ACTUAL);
  }
  return pairs / ((performance.now() - start) / 1000);
}

export async function run(): Promise<SectionResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const batch = size(20_000, 2_000);
  const rounds = size(15, 5);

  const ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const one = nestedBudgets('s-1', 1);
  const three = nestedBudgets('s-1', 3);
  // A calendar window (bounds from Intl, cached until the next boundary) in place of a fixed one.
  const calendar = [
    defineBudget({
      scope: 'user',
      key: 'u-1',
      limit: 1e12,
      window: 'month',
      timeZone: 'Europe/Berlin',
    }),
  ];
  // With a subscriber, each commit builds its usage events and burn-rate projections.
  const observed = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  observed.events$.subscribe(() => undefined);
  // Baseline: the same loop shape with two awaited no-op promises, i.e. what two async calls cost
  // on this machine, so the figures can be read relative to it.
  const noop = async () => undefined;
  const results = await interleave(
    {
      baseline: async () => {
        const start = performance.now();
        for (let i = 0; i < batch; i++) {
          await noop();
          await noop();
        }
        return batch / ((performance.now() - start) / 1000);
      },
      one: () => pairsPerSecond(ledger, one, batch),
      three: () => pairsPerSecond(ledger, three, batch),
      calendar: () => pairsPerSecond(ledger, calendar, batch),
      observed: () => pairsPerSecond(observed, one, batch),
    },
    rounds,
  );
  await ledger.close();
  await observed.close();
  const perPair = (pps: number) => 1e6 / pps;
  for (const [name, label] of [
    ['one', '1 budget'],
    ['three', '3 nested budgets'],
    ['calendar', '1 budget, month in Europe/Berlin'],
    ['observed', '1 budget, events subscribed (usage events, forecasts)'],
  ] as const) {
    const r = results[name];
    rows.push({
      case: `memory store, ${label}`,
      metric: 'reserve+commit pairs/s',
      result: `${fmtCount(median(r))}/s (p10–p90 ${fmtCount(quantile(r, 0.1))} … ${fmtCount(quantile(r, 0.9))}); ${fmtUs(perPair(median(r)))}/pair`,
      headline: `${fmtCount(median(r))}/s`,
    });
  }
  const ratio = results.three.map((t, i) => t / results.one[i]);
  rows.push({
    case: 'memory store, 3 nested vs 1',
    metric: 'throughput ratio',
    result: fmtRatio(median(ratio)),
  });
  const overBaseline = results.one.map((p, i) => perPair(p) - perPair(results.baseline[i]));
  rows.push({
    case: 'memory store, 1 budget',
    metric: 'µs per pair above 2 no-op awaits',
    result: fmtUs(median(overBaseline)),
  });
  notes.push(
    `Engine: ${rounds} interleaved rounds of ${batch} sequential pairs each; a pair reserves 20 prompt tokens + up to 256 output tokens and commits 60.`,
  );

  const redis = await redisEngine(size(3_000, 300), size(7, 3));
  rows.push(...redis.rows);
  notes.push(...redis.notes);
  if (await redisServerBinaryAvailable()) {
    const scripts = await redisScripts(size(2_000, 300), size(5, 2));
    rows.push(...scripts.rows);
    notes.push(...scripts.notes);
    if (await valgrindAvailable()) {
      const instructions = await redisInstructions(size(100, 20));
      rows.push(...instructions.rows);
      notes.push(...instructions.notes);
    } else {
      notes.push('Script instructions: valgrind is not installed; rows skipped.');
    }
  } else {
    notes.push(
      'Script server time: no redis-server binary to start a private server; rows skipped.',
    );
  }
  return { title: '2. Engine', rows, notes };
}
