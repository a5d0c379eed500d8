// Section 5: does the added latency stay flat as concurrent sessions grow? N sessions each make
// a call at the same time (a wave of N concurrent calls, each inside its own session budget, so
// the store holds N ledgers); the cost per call is the wave's time / N. Raw and wrapped waves
// alternate; the figure is wrapped − raw per call, for N = 1, 100, 10,000.

import OpenAI from 'openai';
import { defineBudget, Ledger, MemoryLedgerStore, runWithBudgets } from '../lib/core/index.js';
import { wrapOpenAI } from '../lib/providers/openai/wrap-openai.js';
import {
  compareSamples,
  fmtUs,
  median,
  QUICK,
  quantile,
  type Row,
  type SectionResult,
} from './harness.js';
import { cannedFetch, type ChatBody, smallPrompt } from './prompts.js';

type Create = (body: ChatBody) => Promise<unknown>;

/** Runs waves of `sessions` concurrent calls until `calls` calls ran; returns µs per call. */
async function waves(
  create: (session: number, body: ChatBody) => Promise<unknown>,
  sessions: number,
  calls: number,
  next: () => number,
) {
  const count = Math.max(1, Math.round(calls / sessions));
  const start = performance.now();
  for (let w = 0; w < count; w++) {
    const wave: Promise<unknown>[] = [];
    for (let s = 0; s < sessions; s++) wave.push(create(s, smallPrompt(next())));
    await Promise.all(wave);
  }
  return ((performance.now() - start) * 1000) / (count * sessions);
}

export async function run(): Promise<SectionResult> {
  const options = {
    apiKey: 'bench',
    baseURL: 'http://canned.invalid/v1',
    fetch: cannedFetch,
    maxRetries: 0,
  };
  const raw = new OpenAI(options);
  const wrapped = wrapOpenAI(new OpenAI(options));
  const rawCreate: Create = (body) => raw.chat.completions.create(body);
  const wrappedCreate: Create = (body) => wrapped.chat.completions.create(body);
  let counter = 0;
  const next = () => ++counter;

  const rows: Row[] = [];
  const added: Record<number, number> = {};
  const levels = QUICK ? [1, 100, 2_000] : [1, 100, 10_000];
  for (const sessions of levels) {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    // A budget per session, defined per call as a request handler would.
    const inSession = (create: Create) => (session: number, body: ChatBody) =>
      runWithBudgets(
        ledger,
        [defineBudget({ scope: 'session', key: `s-${session}`, limit: 1e12, window: '1h' })],
        () => create(body),
      );
    const calls = Math.max(sessions, QUICK ? 500 : 2_000);
    const r = await compareSamples(
      {
        raw: () => waves(inSession(rawCreate), sessions, calls, next),
        wrapped: () => waves(inSession(wrappedCreate), sessions, calls, next),
      },
      { rounds: QUICK ? 4 : sessions >= 10_000 ? 6 : 10, batch: 1, warmup: 1 },
    );
    const delta = r.rounds.map((round) => round.wrapped[0] - round.raw[0]);
    const calledPerSample = Math.max(1, Math.round(calls / sessions)) * sessions;
    const cpu = r.cpu.map((round) => (round.wrapped - round.raw) / calledPerSample);
    added[sessions] = median(delta);
    await ledger.close();
    rows.push({
      case: `${sessions.toLocaleString('en-US')} concurrent session${sessions === 1 ? '' : 's'}`,
      metric: 'added µs per call (wave time / N, wrapped − raw)',
      result: `${fmtUs(added[sessions])} (rounds p10–p90 ${fmtUs(quantile(delta, 0.1))} … ${fmtUs(quantile(delta, 0.9))}), CPU ${fmtUs(median(cpu))}; raw ${fmtUs(median(r.samples.raw))}/call`,
      ...(sessions !== 1 && {
        target: 'flat: ≤ 1.5 × the 1-session figure',
        met: added[sessions] <= 1.5 * Math.max(added[1], 1),
      }),
    });
  }
  return {
    title: '5. Scaling with concurrent sessions',
    rows,
    notes: [
      `Scaling: canned provider, 20-token prompts (each new), one session budget per call via runWithBudgets; a wave starts N calls at once and waits for all; at least ${QUICK ? 500 : 2000} calls per sample.`,
    ],
  };
}
