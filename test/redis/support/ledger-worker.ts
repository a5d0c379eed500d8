// One replica of the multi-process test: a Ledger on a RedisLedgerStore (with the event relay),
// running `calls` parallel callers on one shared budget when the parent says go. Each caller
// calls until refused: in `ledger` mode it reserves and commits directly; in `openai` mode it
// makes chat completions through a wrapped OpenAI client against the parent's fake server.
// Run by test/redis/redis-multiprocess.spec.ts through support/register.mjs.
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { defineBudget } from '../../../lib/core/budget.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { RedisEventRelay, RedisLedgerStore } from '../../../lib/redis/index.js';

export interface WorkerConfig {
  redisUrl: string;
  prefix: string;
  channel: string;
  key: string;
  limit: number;
  calls: number;
  worker: number;
  mode: 'ledger' | 'openai';
  /** The fake OpenAI server (openai mode). */
  baseURL?: string;
}

export interface WorkerReport {
  worker: number;
  granted: number;
  refused: number;
  committed: number;
  /** Threshold and exhaustion events seen on this replica's events$ (its own and relayed). */
  seen: string[];
  elapsedMs: number;
}

const config = JSON.parse(process.argv[2]) as WorkerConfig;
const send = (message: unknown) => process.send?.(message);

const client = new Redis(config.redisUrl);
const store = new RedisLedgerStore({ client, prefix: config.prefix, commandTimeout: 5_000 });
const ledger = new Ledger({ store });
const relay = new RedisEventRelay({ publisher: client, channel: config.channel });
const seen: string[] = [];
ledger.events$.subscribe((e: TokencapEvent) => {
  if (e.type === 'threshold') seen.push(`threshold@${e.threshold}`);
  if (e.type === 'exhausted') seen.push('exhausted');
});
await relay.attach(ledger);
const session = defineBudget({ scope: 'session', key: config.key, limit: config.limit });
const openai =
  config.mode === 'openai'
    ? // The SDK's default retries: under 1,000 concurrent sockets the fake server now and then
      // resets a connection before answering (billing nothing), and real clients retry that.
      wrapOpenAI(new OpenAI({ apiKey: 'test', baseURL: config.baseURL, maxRetries: 2 }), {
        ledger,
        budgets: [session],
      })
    : undefined;

/** One call; resolves to the tokens committed. */
async function call(i: number, n: number): Promise<number> {
  if (openai) {
    const completion = await openai.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Say hello.' }],
      max_completion_tokens: 20,
    });
    return completion.usage?.total_tokens ?? 0;
  }
  // 20 prompt tokens and up to 20 output tokens: reserves 21 to 40, commits no more.
  const r = await ledger.reserve([session], {
    base: { tokens: 20 },
    units: { min: 1, max: 20, ifUnbounded: 0 },
  });
  const actual = 20 + Math.min(r.units, 1 + ((i * 7 + n + config.worker) % 20));
  await r.commit({ tokens: actual });
  return actual;
}

process.on('message', async (message: unknown) => {
  if (message === 'go') {
    const start = performance.now();
    let granted = 0;
    let refused = 0;
    let committed = 0;
    // `calls` parallel callers, each calling until refused, so the budget ends up full from every side.
    await Promise.all(
      Array.from({ length: config.calls }, async (_, i) => {
        for (let n = 0; ; n++) {
          try {
            const tokens = await call(i, n);
            committed += tokens;
            granted++;
          } catch (error) {
            if (!(error instanceof BudgetExceededError)) throw error;
            refused++;
            return;
          }
        }
      }),
    );
    const report: WorkerReport = {
      worker: config.worker,
      granted,
      refused,
      committed,
      seen,
      elapsedMs: performance.now() - start,
    };
    send({ type: 'done', report });
  } else if (message === 'report') {
    send({ type: 'seen', seen });
  } else if (message === 'stop') {
    await relay.close();
    await ledger.close();
    await client.quit();
    process.exit(0);
  }
});
send({ type: 'ready' });
