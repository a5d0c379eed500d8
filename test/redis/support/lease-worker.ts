// One replica of the lease test: a Ledger on a RedisLedgerStore on Redis Cluster with tenant hash
// tags and a leased global budget, running `calls` parallel callers through a wrapped OpenAI
// client against the parent's fake server. Each call is budgeted on global (leased), its tenant,
// user and session (one slot per tenant). Run by test/redis/redis-lease-cluster.spec.ts.
import { Cluster } from 'ioredis';
import OpenAI from 'openai';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { RedisLedgerStore } from '../../../lib/redis/index.js';

export interface LeaseWorkerConfig {
  ports: number[];
  prefix: string;
  globalLimit: number;
  calls: number;
  /** Calls per caller; 0: until refused. */
  perCaller: number;
  worker: number;
  baseURL: string;
  leaseTtl: `${number}ms`;
}

export interface LeaseWorkerReport {
  worker: number;
  granted: number;
  refused: number;
  committed: number;
  /** Threshold and exhaustion events this replica published (its own settlements). */
  events: string[];
}

const config = JSON.parse(process.argv[2]) as LeaseWorkerConfig;
const send = (message: unknown) => process.send?.(message);

const client = new Cluster(config.ports.map((port) => ({ host: '127.0.0.1', port })));
const store = new RedisLedgerStore({
  client,
  prefix: config.prefix,
  commandTimeout: 5_000,
  hashTag: (b) => (b.scope === 'global' ? undefined : `t:${b.key.split('/')[0]}`),
  lease: { budgets: (b) => b.scope === 'global', ttl: config.leaseTtl },
});
const ledger = new Ledger({ store });
const events: string[] = [];
ledger.events$.subscribe((e: TokencapEvent) => {
  if (e.type === 'threshold' && e.scope === 'global') events.push(`threshold@${e.threshold}`);
  if (e.type === 'exhausted' && e.scope === 'global') events.push('exhausted');
});
const global = defineBudget({ scope: 'global', key: 'all', limit: config.globalLimit });
const budgetsFor = (tenant: number, caller: number): Budget[] => [
  global,
  defineBudget({ scope: 'tenant', key: `${tenant}/all`, limit: 1e12 }),
  defineBudget({ scope: 'user', key: `${tenant}/u${caller % 5}`, limit: 1e12 }),
  defineBudget({ scope: 'session', key: `${tenant}/s${caller}-${config.worker}`, limit: 1e12 }),
];
// One client per caller: each is wrapped with its tenant's budgets.
const clients = Array.from({ length: config.calls }, (_, caller) =>
  wrapOpenAI(new OpenAI({ apiKey: 'test', baseURL: config.baseURL, maxRetries: 2 }), {
    ledger,
    budgets: budgetsFor((caller + config.worker) % 8, caller),
  }),
);

let granted = 0;
let refused = 0;
let committed = 0;

process.on('message', async (message: unknown) => {
  if (message === 'go') {
    await Promise.all(
      clients.map(async (wrapped, caller) => {
        for (let n = 0; config.perCaller === 0 || n < config.perCaller; n++) {
          try {
            const completion = await wrapped.chat.completions.create({
              model: 'gpt-4o',
              messages: [{ role: 'user', content: `Say hello ${caller} ${n}.` }],
              max_completion_tokens: 20,
            });
            committed += completion.usage?.total_tokens ?? 0;
            granted++;
            if (granted === 50) send({ type: 'running' });
          } catch (error) {
            if (!(error instanceof BudgetExceededError)) throw error;
            refused++;
            return;
          }
        }
      }),
    );
    send({ type: 'done' });
  } else if (message === 'stop') {
    // Returns every lease, settling what it spent (thresholds crossed then are published here).
    await ledger.close();
    const report: LeaseWorkerReport = {
      worker: config.worker,
      granted,
      refused,
      committed,
      events,
    };
    send({ type: 'stopped', report });
    await client.quit();
    process.exit(0);
  }
});
send({ type: 'ready' });
