import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../lib/core/budget.js';
import { currentFrame, runWithBudgets } from '../../lib/core/budget-context.js';
import { Ledger } from '../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { wrapOpenAI } from '../../lib/providers/openai/wrap-openai.js';
import type { FakeOpenAITally } from '../../lib/testing/index.js';

// `npm run soak`: SOAK_CALLS wrapped chat completions (default 1,000,000; a quarter of them
// streamed) across SOAK_SESSIONS session ids (default 100,000), SOAK_CONCURRENCY at a time
// (default 64), against the fake OpenAI server in a child process. Budgets are layered as
// docs/reliability.md recommends: global ⊃ user (1,000 users, 1h window) ⊃ session (ttl 5m,
// 300 tokens, so the 100 hot sessions that get 10% of the calls are refused regularly).
//
// Time is simulated (10 ms per call started) so session ledgers expire and are swept as they
// would over ~3 hours of traffic. Asserted:
// - the ledger's global usage equals what the fake billed, token for token, and nothing stays
//   reserved anywhere; no session budget is over its limit;
// - heap after GC, once every ledger has been evicted, is within HEAP_BOUND_MB of the heap
//   after warm-up; at every checkpoint in between it is within STEADY_BOUND_MB;
// - budget frames (the AsyncLocalStorage stores) are collected: the live count stays bounded by
//   the sockets the HTTP client keeps alive (each remembers the context it was opened in);
// - active handles, timers and process listeners do not grow.

const CALLS = Number(process.env.SOAK_CALLS ?? 1_000_000);
const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 100_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 64);
const USERS = 1_000;
const HOT_SESSIONS = 100;
const SESSION_LIMIT = 300;
const SESSION_TTL = '5m';
const SIM_MS_PER_CALL = 10;
const SWEEP_EVERY = 6_000; // calls: one simulated minute, the store's default sweep interval
const HEAP_BOUND_MB = 16;
const STEADY_BOUND_MB = 64;
const T0 = 1_700_006_400_000; // midnight UTC: the 1-day global window starts here

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const root = new URL('../../', import.meta.url);
const childPath = fileURLToPath(new URL('test/soak/support/fake-server.child.ts', root));
const registerPath = fileURLToPath(new URL('test/redis/support/register.mjs', root));

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`fake server exited with ${code}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** A small deterministic PRNG (mulberry32), so every run picks the same sessions. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Checkpoint {
  calls: number;
  heapMB: number;
  rssMB: number;
  ledgers: number;
  liveFrames: number;
  handles: Record<string, number>;
  listeners: number;
  rate: number;
}

describe('soak: wrapped calls', () => {
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.send({ type: 'close' });
      await new Promise((resolve) => child?.once('exit', resolve));
    }
  });

  it(`${CALLS.toLocaleString('en')} calls across ${SESSIONS.toLocaleString('en')} sessions keep count and memory bounded`, async () => {
    child = fork(childPath, { execArgv: ['--import', registerPath] });
    const { baseURL } = await once<{ baseURL: string }>(child, 'ready');
    const server = child;
    const tally = async () => {
      const reply = once<{ tally: FakeOpenAITally }>(server, 'tally');
      server.send({ type: 'tally' });
      return (await reply).tally;
    };

    let now = T0;
    const clock = () => now;
    const store = new MemoryLedgerStore({ sweepInterval: false, clock });
    const ledger = new Ledger({ store, clock });
    const counts = { usage: 0, threshold: 0, exhausted: 0, refused: 0 };
    ledger.events$.subscribe((e) => {
      if (e.type in counts) counts[e.type as keyof typeof counts] += 1;
    });
    const client = wrapOpenAI(new OpenAI({ apiKey: 'soak', baseURL, maxRetries: 0 }));

    let registered = 0;
    let finalized = 0;
    const frames = new FinalizationRegistry<null>(() => {
      finalized += 1;
    });

    const pick = random(7);
    const global = () =>
      defineBudget({ scope: 'global', key: 'global', limit: 1e12, window: '1d' });
    const budgetsOf = (session: number): Budget[] => [
      global(),
      defineBudget({ scope: 'user', key: `u${session % USERS}`, limit: 1e9, window: '1h' }),
      defineBudget({
        scope: 'session',
        key: `s${session}`,
        limit: SESSION_LIMIT,
        ttl: SESSION_TTL,
      }),
    ];
    const messages = [{ role: 'user' as const, content: 'Say hello.' }];

    let started = 0;
    let refused = 0;
    // Streams the session budget cut short (its cap was all it had left): billed, then refused.
    let cutShort = 0;
    async function call(i: number): Promise<void> {
      now = T0 + i * SIM_MS_PER_CALL;
      if (i % SWEEP_EVERY === 0) store.sweep(now);
      const session =
        pick() < 0.1 ? Math.floor(pick() * HOT_SESSIONS) : Math.floor(pick() * SESSIONS);
      let sent = false;
      try {
        await runWithBudgets(ledger, budgetsOf(session), async () => {
          frames.register(currentFrame() as object, null);
          registered += 1;
          if (i % 4 === 0) {
            const stream = await client.chat.completions.create({
              model: 'gpt-4o-mini',
              messages,
              max_completion_tokens: 8,
              stream: true,
            });
            sent = true;
            for await (const _ of stream);
          } else {
            await client.chat.completions.create({
              model: 'gpt-4o-mini',
              messages,
              max_completion_tokens: 8,
            });
          }
        });
      } catch (error) {
        if (!(error instanceof BudgetExceededError)) throw error;
        if (sent) cutShort += 1;
        else refused += 1;
      }
    }
    async function runUntil(end: number): Promise<void> {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (started < end) await call(started++);
        }),
      );
    }

    const handles = () => {
      const out: Record<string, number> = {};
      for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
      return out;
    };
    const listeners = () =>
      process.eventNames().reduce((n, name) => n + process.listenerCount(name), 0);
    let segmentStart = performance.now();
    let segmentCalls = 0;
    const checkpoints: Checkpoint[] = [];
    const measure = async (): Promise<Checkpoint> => {
      const rate = (started - segmentCalls) / ((performance.now() - segmentStart) / 1_000);
      for (let i = 0; i < 6; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const memory = process.memoryUsage();
      const point = {
        calls: started,
        heapMB: Math.round(memory.heapUsed / 1e5) / 10,
        rssMB: Math.round(memory.rss / 1e5) / 10,
        ledgers: store.size,
        liveFrames: registered - finalized,
        handles: handles(),
        listeners: listeners(),
        rate: Math.round(rate),
      };
      checkpoints.push(point);
      console.log(`soak ${JSON.stringify(point)}`);
      segmentStart = performance.now();
      segmentCalls = started;
      return point;
    };

    const startedAt = performance.now();
    await runUntil(Math.min(CALLS, Math.max(5_000, CALLS / 20)));
    const baseline = await measure();
    const step = Math.ceil(CALLS / 10);
    while (started < CALLS) {
      await runUntil(Math.min((Math.floor(started / step) + 1) * step, CALLS));
      await measure();
    }
    const seconds = (performance.now() - startedAt) / 1_000;

    // The ledger kept count: global usage equals the bill, nothing is held, no session overspent.
    const billed = await tally();
    const [globalUsage] = await store.snapshot([global()], now);
    const users = await store.snapshot(
      Array.from({ length: USERS }, (_, u) => budgetsOf(u)[1]),
      now,
    );
    const hot = await store.snapshot(
      Array.from({ length: HOT_SESSIONS }, (_, s) => budgetsOf(s)[2]),
      now,
    );
    const overBudget = hot.reduce(
      (n, s) => n + Math.max(0, (s.used.tokens ?? 0) + (s.reserved.tokens ?? 0) - SESSION_LIMIT),
      0,
    );
    const leaked = [globalUsage, ...users, ...hot].reduce(
      (n, s) => n + (s.reserved.tokens ?? 0),
      0,
    );

    // Then every ledger idles out; what is left on the heap is what the calls leaked.
    now += 2 * 86_400_000;
    store.sweep(now);
    const final = await measure();
    const steadyMax = Math.max(...checkpoints.slice(1, -1).map((c) => c.heapMB));
    const summary = {
      calls: CALLS,
      sessions: SESSIONS,
      concurrency: CONCURRENCY,
      seconds: Math.round(seconds),
      callsPerSecond: Math.round(CALLS / seconds),
      refused,
      cutShort,
      events: counts,
      billedTokens: billed.totalTokens,
      billedRequests: billed.requests,
      ledgerTokens: globalUsage.used.tokens ?? 0,
      reservedLeaked: leaked,
      tokensOverSessionBudgets: overBudget,
      heapAfterWarmupMB: baseline.heapMB,
      heapSteadyMaxMB: steadyMax,
      heapAfterEvictionMB: final.heapMB,
      ledgersAfterEviction: final.ledgers,
      liveFramesAtEnd: final.liveFrames,
      framesCreated: registered,
    };
    console.log(`soak summary ${JSON.stringify(summary)}`);

    expect(started).toBe(CALLS);
    expect(globalUsage.used.tokens).toBe(billed.totalTokens);
    expect(globalUsage.used.requests).toBe(billed.requests);
    expect(billed.requests + refused).toBe(CALLS);
    expect(leaked).toBe(0);
    expect(overBudget).toBe(0);
    expect(final.ledgers).toBe(0);
    expect(final.heapMB - baseline.heapMB).toBeLessThan(HEAP_BOUND_MB);
    expect(steadyMax - baseline.heapMB).toBeLessThan(STEADY_BOUND_MB);
    // Frames still alive are those remembered by kept-alive sockets and the like: bounded by
    // the connection pool, not by the number of calls.
    expect(final.liveFrames).toBeLessThanOrEqual(4 * CONCURRENCY);
    expect(final.listeners).toBe(baseline.listeners);
    expect(final.handles.Timeout ?? 0).toBeLessThanOrEqual(baseline.handles.Timeout ?? 0);
    expect(Object.values(final.handles).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(
      Object.values(baseline.handles).reduce((a, b) => a + b, 0) + CONCURRENCY,
    );
  });
});
