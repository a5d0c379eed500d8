// Section 2 on Redis: reserve+commit pairs per second through RedisLedgerStore, against a
// baseline of two PINGs (two round trips, the floor for any two-phase store), and the round
// trips each phase costs, counted twice: on the client (every command ioredis sends) and on the
// server (`INFO commandstats` deltas).

import { Redis } from 'ioredis';
import { Ledger } from '../lib/core/index.js';
import { RedisLedgerStore } from '../lib/redis/index.js';
import { ACTUAL, nestedBudgets, pairsPerSecond, REQUEST } from './engine.js';
import { fmtCount, fmtUs, interleave, median, quantile, type Row } from './harness.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Total `calls=` per command from `INFO commandstats`, and `usec=` as `<command>.usec`. */
async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats');
  const calls = new Map<string, number>();
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) {
      calls.set(match[1], Number(match[2]));
      calls.set(`${match[1]}.usec`, Number(match[3]));
    }
  }
  return calls;
}

function delta(
  before: Map<string, number>,
  after: Map<string, number>,
  ignore: string[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0 && !ignore.includes(name)) out.set(name, d);
  }
  return out;
}

async function reachable(): Promise<boolean> {
  const probe = new Redis(URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export async function redisEngine(
  pairs: number,
  rounds: number,
): Promise<{ rows: Row[]; notes: string[] }> {
  if (!(await reachable())) {
    return {
      rows: [],
      notes: [`Redis: no server answered at ${URL} (set REDIS_URL); Redis rows skipped.`],
    };
  }
  const client = new Redis(URL);
  const admin = new Redis(URL);
  const prefix = `tokencap-bench-${process.pid}:`;
  const store = new RedisLedgerStore({ client, prefix });
  const ledger = new Ledger({ store });
  const rows: Row[] = [];

  // Client-side count: every command this client sends is one request/response exchange.
  let sent = 0;
  const sendCommand = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<typeof sendCommand>) => {
    sent++;
    return sendCommand(...args);
  }) as typeof client.sendCommand;

  try {
    const one = nestedBudgets(`r-${process.pid}`, 1);
    const three = nestedBudgets(`r-${process.pid}`, 3);

    // Round trips per phase, after a warm-up that loads the scripts.
    await pairsPerSecond(ledger, three, 20);
    const k = 200;
    const perPhase: Record<string, { client: number; server: Map<string, number> }> = {};
    for (const [label, budgets] of [
      ['1 budget', one],
      ['3 nested budgets', three],
    ] as const) {
      const reservations = [];
      let s0 = sent;
      let c0 = await commandCalls(admin);
      for (let i = 0; i < k; i++) reservations.push(await ledger.reserve(budgets, REQUEST));
      perPhase[`reserve, ${label}`] = {
        client: (sent - s0) / k,
        server: delta(c0, await commandCalls(admin), ['info', 'info.usec']),
      };
      s0 = sent;
      c0 = await commandCalls(admin);
      for (const r of reservations) await r.commit(ACTUAL);
      perPhase[`commit, ${label}`] = {
        client: (sent - s0) / k,
        server: delta(c0, await commandCalls(admin), ['info', 'info.usec']),
      };
    }
    for (const [phase, counts] of Object.entries(perPhase)) {
      // commandstats also counts the commands a script runs (redis.call): report them apart.
      let scripts = 0;
      let inner = 0;
      let scriptUs = 0;
      for (const [name, n] of counts.server) {
        if (name === 'evalsha.usec' || name === 'eval.usec') scriptUs += n;
        else if (name.endsWith('.usec')) continue;
        else if (name === 'evalsha' || name === 'eval') scripts += n;
        else inner += n;
      }
      rows.push({
        case: `Redis ${phase}`,
        metric: 'round trips per call (client sends; server commandstats)',
        result: `${counts.client.toFixed(2)} (server: ${(scripts / k).toFixed(2)} EVALSHA running ${(inner / k).toFixed(1)} commands in ${fmtUs(scriptUs / scripts)})`,
        target: '1',
        met: counts.client === 1,
      });
    }

    const results = await interleave(
      {
        baseline: async () => {
          const start = performance.now();
          for (let i = 0; i < pairs; i++) {
            await admin.ping();
            await admin.ping();
          }
          return pairs / ((performance.now() - start) / 1000);
        },
        one: () => pairsPerSecond(ledger, one, pairs),
        three: () => pairsPerSecond(ledger, three, pairs),
      },
      rounds,
    );
    const perPair = (pps: number) => 1e6 / pps;
    for (const [name, label] of [
      ['one', '1 budget'],
      ['three', '3 nested budgets'],
    ] as const) {
      const r = results[name];
      const over = r.map((p, i) => perPair(p) - perPair(results.baseline[i]));
      rows.push({
        case: `Redis, ${label}`,
        metric: 'reserve+commit pairs/s; µs per pair above 2 PINGs',
        result: `${fmtCount(median(r))}/s (p10–p90 ${fmtCount(quantile(r, 0.1))} … ${fmtCount(quantile(r, 0.9))}); +${fmtUs(median(over))}`,
      });
    }
    return {
      rows,
      notes: [
        `Redis (${URL.replace(/\/\/[^@]*@/, '//')}): ${rounds} interleaved rounds of ${pairs} sequential pairs against a baseline of two PINGs per pair; round trips counted over ${k} calls per phase.`,
      ],
    };
  } finally {
    await ledger.close();
    // Remove what the benchmark wrote.
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    client.disconnect();
    admin.disconnect();
  }
}
