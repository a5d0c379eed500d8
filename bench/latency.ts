// Section 1: latency Tokencap adds to a call of the real `openai` client. Raw client vs wrapped
// client inside a budget context (runWithBudgets, and a `@Budget` method of a Nest app context),
// interleaved A/B, against (i) a provider that answers at once (the SDK's `fetch` option returning
// a canned Response: no network, no server) and (ii) the fake OpenAI server on loopback, in its own
// process.

import { countTokens as encodeCount } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { defineBudget, Ledger, MemoryLedgerStore, runWithBudgets } from '../lib/core/index.js';
import { countChatTokens } from '../lib/counting/index.js';
import { wrapOpenAI } from '../lib/providers/openai/wrap-openai.js';
import { spawnFakeServer } from './fake-server.js';
import {
  type AbOptions,
  type AbResult,
  abSamples,
  abTest,
  compareSamples,
  fmtRatio,
  fmtUs,
  median,
  pairRounds,
  QUICK,
  type Row,
  type SectionResult,
  type Sample,
  summarizeAb,
} from './harness.js';
import { type ChatService, sessions, startNestApp } from './nest-app.js';
import {
  billedTexts,
  type ChatBody,
  cannedFetch,
  conversation,
  largePrompt,
  smallPrompt,
  STREAM_REPLY_HEADERS,
  turnBody,
} from './prompts.js';

const TURNS = 20;

/** One way of calling: a raw baseline and a Tokencap side, each as create and stream. */
interface Sides {
  label: string;
  raw: { create(body: ChatBody): Promise<unknown>; stream(body: ChatBody): Promise<void> };
  tokencap: { create(body: ChatBody): Promise<unknown>; stream(body: ChatBody): Promise<void> };
}

async function consume(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const chunk of stream) void chunk;
}

function direct(client: OpenAI, headers?: Record<string, string>) {
  return {
    create: (body: ChatBody) => client.chat.completions.create(body),
    stream: async (body: ChatBody) =>
      consume(await client.chat.completions.create({ ...body, stream: true }, { headers })),
  };
}

/** Raw client vs wrapped client inside `runWithBudgets` with a per-request session budget. */
function contextSides(
  raw: OpenAI,
  wrapped: OpenAI,
  ledger: Ledger,
  headers?: Record<string, string>,
): Sides {
  const w = direct(wrapped, headers);
  const session = () => [
    defineBudget({
      scope: 'session',
      key: sessions.getStore() ?? 's-1',
      limit: 1e12,
      window: '1h',
    }),
  ];
  return {
    label: 'runWithBudgets',
    raw: direct(raw, headers),
    tokencap: {
      create: (body) => runWithBudgets(ledger, session(), () => w.create(body)),
      stream: (body) => runWithBudgets(ledger, session(), () => w.stream(body)),
    },
  };
}

function nestSides(plain: ChatService, budgeted: ChatService): Sides {
  return { label: 'Nest @Budget', raw: plain, tokencap: budgeted };
}

interface Sizes {
  a: AbOptions;
  b: AbOptions;
  c: AbOptions;
  d: AbOptions;
}

function sizes(network: boolean): Sizes {
  const o = (rounds: number, batch: number, warmup: number): AbOptions =>
    QUICK
      ? {
          rounds: Math.max(4, rounds >> 2),
          batch: Math.max(2, batch >> 2),
          warmup: Math.max(2, warmup >> 2),
        }
      : { rounds, batch, warmup };
  return network
    ? { a: o(16, 40, 60), b: o(16, 20, 30), c: o(12, 5, 8), d: o(12, 3, 4) }
    : { a: o(20, 100, 200), b: o(20, 40, 60), c: o(16, 10, 20), d: o(16, 6, 8) };
}

let counter = 0;
const next = () => ++counter;

interface CaseResult {
  name: string;
  summary: ReturnType<typeof summarizeAb>;
  samples: number;
  /** Whether the CPU figure is per call (not per sample of several calls). */
  cpuPerCall: boolean;
  target?: { text: string; limit: number };
}

/** Runs (a)–(d) for one way of calling; each sample is inside its own session. */
async function runCases(
  sides: Sides,
  size: Sizes,
  withEncoder: boolean,
): Promise<{ cases: CaseResult[]; encoder?: { us: number; countUs: number; ratio: number } }> {
  const inSession = <T>(id: string, fn: () => Promise<T>) => sessions.run(id, fn);
  const cases: CaseResult[] = [];
  const summarize = (name: string, r: AbResult, target?: CaseResult['target'], cpuPerCall = true) =>
    cases.push({ name, summary: summarizeAb(r), samples: r.b.length, cpuPerCall, target });

  // (a) 20-token prompt.
  const a = await abTest(
    () => inSession('s-a', () => sides.raw.create(smallPrompt(next()))),
    () => inSession('s-a', () => sides.tokencap.create(smallPrompt(next()))),
    size.a,
  );
  summarize('(a) 20-token prompt', a, { text: 'median ≤ 20 µs', limit: 20 });

  // (b) 1,000-token prompt with tools; with the bare encoder on the same kind of prompt interleaved.
  // Prompts are built before the clock starts.
  const pool = (n: number) => Array.from({ length: n }, () => largePrompt(next()));
  const total = size.b.warmup + size.b.rounds * size.b.batch;
  const pools = {
    raw: pool(total),
    tokencap: pool(total),
    encoder: pool(total),
    count: pool(total),
  };
  const take = (p: ChatBody[]) => p.pop() as ChatBody;
  const timedCall = (fn: () => Promise<unknown>) => async (): Promise<number> => {
    const start = performance.now();
    await fn();
    return (performance.now() - start) * 1000;
  };
  const variants: Record<string, Sample> = {
    raw: () => inSession('s-b', () => timedCall(() => sides.raw.create(take(pools.raw)))()),
    tokencap: () =>
      inSession('s-b', () => timedCall(() => sides.tokencap.create(take(pools.tokencap)))()),
  };
  if (withEncoder) {
    variants.encoder = () => {
      const texts = billedTexts(take(pools.encoder));
      const start = performance.now();
      let n = 0;
      for (const t of texts) n += encodeCount(t);
      if (n <= 0) throw new Error('no tokens');
      return (performance.now() - start) * 1000;
    };
    // Tokencap's own count of the same kind of prompt, without a client around it.
    variants.count = () => {
      const body = take(pools.count);
      const start = performance.now();
      if (countChatTokens(body) <= 0) throw new Error('no tokens');
      return (performance.now() - start) * 1000;
    };
  }
  const b = await compareSamples(variants, size.b);
  const encoderUs = withEncoder ? median(b.samples.encoder) : undefined;
  const encoder = withEncoder
    ? {
        us: median(b.samples.encoder),
        countUs: median(b.samples.count),
        ratio: median(b.rounds.map((round) => median(round.count) / median(round.encoder))),
      }
    : undefined;
  summarize(
    '(b) 1,000-token prompt + 3 tools',
    { a: b.samples.raw, b: b.samples.tokencap, ...pairRounds(b, 'raw', 'tokencap') },
    encoderUs === undefined
      ? undefined
      : {
          text: `median ≤ 1.25 × encoder (${fmtUs(encoderUs)}) + 20 µs`,
          limit: 1.25 * encoderUs + 20,
        },
  );

  // (c) streamed 500-token reply, read to the end.
  const c = await abTest(
    () => inSession('s-c', () => sides.raw.stream(smallPrompt(next()))),
    () => inSession('s-c', () => sides.tokencap.stream(smallPrompt(next()))),
    size.c,
  );
  summarize('(c) streamed 500-token reply', c);

  // (d) turn 20 of an agent loop: turns 1–19 run untimed (as the loop would), turn 20 is timed.
  const loop =
    (side: Sides['raw']): Sample =>
    () => {
      const id = `s-d-${next()}`;
      return inSession(id, async () => {
        const messages = conversation(next(), TURNS);
        for (let turn = 1; turn < TURNS; turn++) await side.create(turnBody(messages, turn));
        const body = turnBody(messages, TURNS);
        const start = performance.now();
        await side.create(body);
        return (performance.now() - start) * 1000;
      });
    };
  const d = await abSamples(loop(sides.raw), loop(sides.tokencap), size.d);
  summarize(`(d) agent loop, turn ${TURNS}`, d, { text: 'median ≤ 50 µs', limit: 50 }, false);
  return { cases, encoder };
}

function rowsOf(provider: string, sides: Sides, cases: CaseResult[], judged: boolean): Row[] {
  return cases.map((c) => {
    const s = c.summary;
    return {
      case: `${c.name}; ${provider}; ${sides.label}`,
      metric:
        'added per call: median wall (spread), p99 wall, CPU (all threads); throughput wrapped/raw',
      result:
        `${fmtUs(s.addedMedian)} (rounds p10–p90 ${fmtUs(s.deltaP10)} … ${fmtUs(s.deltaP90)}), p99 ${fmtUs(s.addedP99)}` +
        (c.cpuPerCall ? `, CPU ${fmtUs(s.cpuAdded)}` : '') +
        `; ${fmtRatio(s.ratio)} (raw median ${fmtUs(s.baseMedian)}, n=${c.samples})`,
      ...(c.target && { target: c.target.text }),
      ...(c.target && judged && { met: s.addedMedian <= c.target.limit }),
      headline: `+${fmtUs(s.addedMedian)} on ${fmtUs(s.baseMedian)}`,
    };
  });
}

export async function run(): Promise<SectionResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const ledger = new Ledger({ store: new MemoryLedgerStore() });

  // Prompt sizes, for the notes.
  const small = countChatTokens(smallPrompt(0));
  const large = countChatTokens(largePrompt(0));
  const turn = countChatTokens(turnBody(conversation(0, TURNS), TURNS));

  // (i) canned provider: the SDK's `fetch` option.
  const options = {
    apiKey: 'bench',
    baseURL: 'http://canned.invalid/v1',
    fetch: cannedFetch,
    maxRetries: 0,
  };
  const cannedRaw = new OpenAI(options);
  const cannedWrapped = wrapOpenAI(new OpenAI(options));
  const canned = await runCases(contextSides(cannedRaw, cannedWrapped, ledger), sizes(false), true);
  rows.push(
    ...rowsOf('canned fetch', contextSides(cannedRaw, cannedWrapped, ledger), canned.cases, true),
  );
  if (canned.encoder) {
    const e = canned.encoder;
    rows.push({
      case: '(b) countChatTokens alone, same kind of prompt',
      metric: 'median µs; × the bare encoder (median of rounds)',
      result: `${fmtUs(e.countUs)} vs encoder ${fmtUs(e.us)}: ${fmtRatio(e.ratio)}`,
      target: '≤ 1.25×',
      met: e.ratio <= 1.25,
      headline: fmtRatio(e.ratio),
    });
  }

  const nest = await startNestApp(cannedRaw, cannedWrapped);
  try {
    const sides = nestSides(nest.plain, nest.budgeted);
    const r = await runCases(sides, sizes(false), true);
    rows.push(...rowsOf('canned fetch', sides, r.cases, true));
  } finally {
    await nest.app.close();
  }

  // (ii) the fake server on loopback.
  const server = await spawnFakeServer();
  try {
    const fakeOptions = { apiKey: 'bench', baseURL: server.baseURL, maxRetries: 0 };
    const raw = new OpenAI(fakeOptions);
    const wrapped = wrapOpenAI(new OpenAI(fakeOptions));
    const sides = contextSides(raw, wrapped, ledger, STREAM_REPLY_HEADERS);
    const r = await runCases(sides, sizes(true), false);
    rows.push(...rowsOf('fake server (loopback)', sides, r.cases, false));
  } finally {
    await server.close();
  }
  await ledger.close();

  notes.push(
    `Latency: prompts of ${small} (a), ${large} (b) and ${turn} (d, turn ${TURNS}) tokens by countChatTokens; every (a)–(c) prompt is new (no count-cache hit), the agent loop resends its earlier messages as they are. Targets are judged on the canned provider, where nothing but the client and Tokencap runs; loopback rows add a server and a socket, so their spread is wider.`,
    `Latency: (b)'s encoder figure is gpt-tokenizer's countTokens over the same kind of prompt's billed strings (message contents and each tool's JSON), measured interleaved with the calls; the default backend of countTokens is gpt-tokenizer.`,
  );
  return { title: '1. Added latency per call', rows, notes };
}
