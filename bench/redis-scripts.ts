// Redis server time of each script (INFO commandstats, usec per EVALSHA) per budget, beside a
// baseline script that increments one hash field, in the same run, on a private redis-server (so
// no other client's scripts count).
import { Redis } from 'ioredis';
import { type Budget, defineBudget } from '../lib/core/index.js';
import { RedisLedgerStore } from '../lib/redis/index.js';
import { RedisServerProcess, freePort } from '../test/redis/support/redis-env.js';
import { fmtUs, median, quantile, type Row } from './harness.js';

async function evalUsec(admin: Redis): Promise<{ calls: number; usec: number }> {
  const info = await admin.info('commandstats');
  const match = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return { calls: Number(match?.[1] ?? 0), usec: Number(match?.[2] ?? 0) };
}

function budgetsOf(n: 1 | 3, id: string): Budget[] {
  const all = [
    defineBudget({ scope: 'global', key: 'all', limit: 1e14 }),
    defineBudget({ scope: 'user', key: `u-${id}`, limit: 1e13, window: '1d' }),
    defineBudget({ scope: 'session', key: `s-${id}`, limit: 1e12, window: '1h', ttl: '2h' }),
  ];
  return n === 1 ? all.slice(2) : all;
}

export async function redisScripts(
  calls: number,
  rounds: number,
): Promise<{ rows: Row[]; notes: string[] }> {
  const port = await freePort();
  const server = new RedisServerProcess(port);
  await server.start();
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url);
  const admin = new Redis(url);
  const store = new RedisLedgerStore({ client, prefix: 'bench:' });
  const baseline = (await admin.script(
    'LOAD',
    "return redis.call('HINCRBY', KEYS[1], 'n', 1)",
  )) as string;
  const samples = new Map<string, number[]>();
  const record = (name: string, value: number) => {
    const list = samples.get(name) ?? [];
    list.push(value);
    samples.set(name, list);
  };
  async function phase(
    name: string,
    per: number,
    run: (i: number) => Promise<unknown>,
    warm: boolean,
  ) {
    const before = await evalUsec(admin);
    for (let i = 0; i < calls; i++) await run(i);
    const after = await evalUsec(admin);
    if (!warm) record(name, (after.usec - before.usec) / (after.calls - before.calls) / per);
  }
  try {
    for (let round = -1; round < rounds; round++) {
      const warm = round < 0;
      await phase('baseline', 1, () => client.evalsha(baseline, 1, 'bench:hincrby'), warm);
      for (const n of [1, 3] as const) {
        const budgets = budgetsOf(n, `${round}`);
        const now = () => Date.now();
        const reserve = (tag: string) => (i: number) =>
          store.reserve({
            reservationId: `${tag}${n}-${round}-${i}`,
            budgets,
            base: { tokens: 20, requests: 1 },
            units: { min: 1, max: 256, ifUnbounded: 256 },
            now: now(),
            expiresAt: now() + 900_000,
          });
        await phase(`reserve ${n}`, n, reserve('a'), warm);
        await phase(
          `commit ${n}`,
          n,
          (i) =>
            store.commit({
              reservationId: `a${n}-${round}-${i}`,
              budgets,
              actual: { tokens: 60, requests: 1 },
              now: now(),
            }),
          warm,
        );
        await phase(`reserve ${n} `, n, reserve('b'), true);
        await phase(
          `release ${n}`,
          n,
          (i) => store.release({ reservationId: `b${n}-${round}-${i}`, budgets, now: now() }),
          warm,
        );
        await phase(`snapshot ${n}`, n, () => store.snapshot(budgets, now()), warm);
      }
    }
  } finally {
    client.disconnect();
    admin.disconnect();
    await server.kill();
  }
  const base = median(samples.get('baseline') ?? []);
  const rows: Row[] = [];
  for (const [name, values] of samples) {
    if (name === 'baseline') continue;
    const [script, n] = name.split(' ');
    const m = median(values);
    rows.push({
      case: `Redis ${script}, ${n === '1' ? '1 budget' : '3 budgets'}`,
      metric: 'server µs per budget (commandstats); × the HINCRBY script',
      result: `${fmtUs(m)} (rounds p10–p90 ${fmtUs(quantile(values, 0.1))} … ${fmtUs(quantile(values, 0.9))}); ${(m / base).toFixed(1)}× baseline ${fmtUs(base)}`,
      target: '≤ 15 µs',
      met: m <= 15,
    });
  }
  return {
    rows,
    notes: [
      `Script server time: a private redis-server, ${rounds} rounds of ${calls} sequential calls per script; the baseline is a Lua script running one HINCRBY, measured in the same rounds. Per budget = usec_per_call / budgets.`,
    ],
  };
}
