// Section 4: heap cost of an idle budget key in MemoryLedgerStore, and that evicting idle keys
// (a sweep past their ttl) gives it back. Runs in a child started with --expose-gc: heapUsed is
// read after a full GC before, after filling, and after the sweep.

import { defineBudget, Ledger, MemoryLedgerStore } from '../lib/core/index.js';
import { ACTUAL, REQUEST } from './engine.js';
import { fmtBytes, fmtCount, gc, QUICK, type Row, type SectionResult } from './harness.js';

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A session id as apps typically have them: 32 hex characters (a UUID without dashes). */
function sessionId(i: number): string {
  return (
    (i * 2654435761 + 0x9e3779b9).toString(16).padStart(16, '0') + i.toString(16).padStart(16, '0')
  );
}

interface Measure {
  sessions: number;
  perKey: number;
  baselinePerKey: number;
  returned: number;
  left: number;
}

async function measure(sessions: number): Promise<Measure> {
  // Baseline: the least any store must keep per key, a Map from the same id string to a number.
  const base0 = heapUsed();
  const minimal = new Map<string, number>();
  for (let i = 0; i < sessions; i++) minimal.set(`session:${sessionId(i)}`, i);
  const base1 = heapUsed();
  const baselinePerKey = (base1 - base0) / sessions;
  minimal.clear();

  let now = Date.UTC(2025, 0, 1);
  const clock = () => now;
  const store = new MemoryLedgerStore({ sweepInterval: false, clock });
  const ledger = new Ledger({ store, clock });
  const before = heapUsed();
  for (let i = 0; i < sessions; i++) {
    // A budget is defined per request (from the session id) and dropped when the request ends,
    // as the Nest decorator does; only the store keeps anything.
    const budgets = [
      defineBudget({
        scope: 'session',
        key: sessionId(i),
        limit: 50_000,
        window: '1h',
        ttl: '30m',
      }),
    ];
    const reservation = await ledger.reserve(budgets, REQUEST);
    await reservation.commit(ACTUAL);
  }
  const filled = heapUsed();
  if (store.size !== sessions)
    throw new Error(`expected ${sessions} ledgers, store holds ${store.size}`);
  now += 2 * 60 * 60 * 1000;
  store.sweep(now);
  if (store.size !== 0) throw new Error(`sweep left ${store.size} ledgers`);
  const swept = heapUsed();
  await ledger.close();
  return {
    sessions,
    perKey: (filled - before) / sessions,
    baselinePerKey,
    returned: (filled - swept) / (filled - before),
    left: swept - before,
  };
}

export async function run(): Promise<SectionResult> {
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function')
    throw new Error('memory: run with --expose-gc');
  const rows: Row[] = [];
  const sizes = QUICK ? [50_000, 100_000] : [100_000, 1_000_000];
  for (const sessions of sizes) {
    const m = await measure(sessions);
    rows.push({
      case: `MemoryLedgerStore, ${fmtCount(sessions)} idle session keys`,
      metric: 'heap bytes per key (minimal Map<id, number> in same run)',
      result: `${fmtBytes(m.perKey)} (minimal ${fmtBytes(m.baselinePerKey)}; +${fmtBytes(m.perKey - m.baselinePerKey)})`,
    });
    rows.push({
      case: `MemoryLedgerStore, ${fmtCount(sessions)} keys swept past ttl`,
      metric: 'share of that heap returned',
      result: `${(m.returned * 100).toFixed(1)}% (${fmtBytes(m.left)} left)`,
      target: '≈ 100%',
      met: m.returned >= 0.95,
    });
  }
  return {
    title: '4. Memory',
    rows,
    notes: [
      'Memory: each key had one reserve+commit (window 1h, ttl 30m), then sat idle; heapUsed after two forced GCs (--expose-gc). A key costs its id string (`session:` + 32 hex chars) plus the ledger.',
    ],
  };
}
