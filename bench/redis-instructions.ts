// Instructions the Redis server runs per script and budget, counted by valgrind's callgrind on a
// private redis-server, beside the same baseline script as bench/redis-scripts.ts (one HINCRBY).
// Unlike server µs, an instruction count does not move with the machine's load: the same scripts
// on the same arguments count within a percent or two run after run, so a change to the Lua shows
// here even on a busy machine. Counted only while the measured calls run (--instr-atstart=no, then
// callgrind_control turns counting on and off around them).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { type Budget, defineBudget } from '../lib/core/index.js';
import { RedisLedgerStore } from '../lib/redis/index.js';
import { freePort, serverArgs } from '../test/redis/support/redis-env.js';
import { fmtCount, type Row } from './harness.js';

const run = promisify(execFile);

/** Whether valgrind (with callgrind_control) is on this machine. */
export async function valgrindAvailable(): Promise<boolean> {
  try {
    await run('valgrind', ['--version']);
    await run('callgrind_control', ['--help']).catch((error: { code?: unknown }) => {
      if (error.code === 'ENOENT') throw error;
    });
    return true;
  } catch {
    return false;
  }
}

class CallgrindRedis {
  private dumps = 0;
  private constructor(
    private readonly child: ChildProcess,
    private readonly out: string,
    readonly client: Redis,
  ) {}

  static async start(dir: string): Promise<CallgrindRedis> {
    const port = await freePort();
    const out = join(dir, 'callgrind.out');
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--instr-atstart=no',
        `--callgrind-out-file=${out}`,
        process.env.REDIS_SERVER_BIN ?? 'redis-server',
        ...serverArgs(port),
      ],
      { stdio: 'ignore' },
    );
    const client = new Redis({ port, lazyConnect: true, retryStrategy: () => null });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await client.connect();
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    return new CallgrindRedis(child, out, client);
  }

  /** Instructions the server ran while `work` ran. */
  async count(work: () => Promise<void>): Promise<number> {
    const pid = String(this.child.pid);
    await run('callgrind_control', ['--zero', pid]);
    await run('callgrind_control', ['--instr=on', pid]);
    await work();
    await run('callgrind_control', ['--instr=off', pid]);
    await run('callgrind_control', ['--dump', pid]);
    this.dumps++;
    const text = await readFile(`${this.out}.${this.dumps}`, 'utf8');
    const totals = /^totals: (\d+)/m.exec(text);
    if (!totals) throw new Error(`callgrind dump ${this.out}.${this.dumps} has no totals line.`);
    return Number(totals[1]);
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function budgetsOf(n: 1 | 3): Budget[] {
  const all = [
    defineBudget({ scope: 'global', key: 'all', limit: 1e14 }),
    defineBudget({ scope: 'user', key: 'u-1', limit: 1e13, window: '1d' }),
    defineBudget({ scope: 'session', key: 's-1', limit: 1e12, window: '1h', ttl: '2h' }),
  ];
  return n === 1 ? all.slice(2) : all;
}

export async function redisInstructions(calls: number): Promise<{ rows: Row[]; notes: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'tokencap-callgrind-'));
  const server = await CallgrindRedis.start(dir);
  const { client } = server;
  // valgrind runs the server ~50× slower: the store's default command timeout would fire.
  const store = new RedisLedgerStore({ client, prefix: 'bench:', commandTimeout: 60_000 });
  const counts = new Map<string, number>();
  try {
    const baseline = (await client.script(
      'LOAD',
      "return redis.call('HINCRBY', KEYS[1], 'n', 1)",
    )) as string;
    const per = async (name: string, work: (i: number) => Promise<unknown>) => {
      const total = await server.count(async () => {
        for (let i = 0; i < calls; i++) await work(i);
      });
      counts.set(name, total / calls);
    };
    await per('baseline', () => client.evalsha(baseline, 1, 'bench:hincrby'));
    for (const n of [1, 3] as const) {
      const budgets = budgetsOf(n);
      const reserve = (id: string) =>
        store.reserve({
          reservationId: id,
          budgets,
          base: { tokens: 20, requests: 1 },
          units: { min: 1, max: 256, ifUnbounded: 256 },
          now: Date.now(),
          expiresAt: Date.now() + 900_000,
        });
      const commit = (id: string) =>
        store.commit({
          reservationId: id,
          budgets,
          actual: { tokens: 60, requests: 1 },
          now: Date.now(),
        });
      // Warm: the scripts loaded and the ledgers written, as in a running app.
      for (let i = 0; i < 20; i++) {
        await reserve(`w${n}-${i}`);
        await commit(`w${n}-${i}`);
      }
      // All of a phase's reservations are in flight when their commits run, as under load.
      let reserved = 0;
      let committed = 0;
      const reserveTotal = await server.count(async () => {
        for (let i = 0; i < calls; i++) await reserve(`m${n}-${reserved++}`);
      });
      const commitTotal = await server.count(async () => {
        for (let i = 0; i < calls; i++) await commit(`m${n}-${committed++}`);
      });
      counts.set(`reserve ${n}`, reserveTotal / calls / n);
      counts.set(`commit ${n}`, commitTotal / calls / n);
      await per(`snapshot ${n}`, () => store.snapshot(budgets, Date.now()));
      for (let i = 0; i < calls; i++) await reserve(`r${n}-${i}`);
      const releaseTotal = await server.count(async () => {
        for (let i = 0; i < calls; i++) {
          await store.release({ reservationId: `r${n}-${i}`, budgets, now: Date.now() });
        }
      });
      counts.set(`release ${n}`, releaseTotal / calls / n);
      counts.set(`snapshot ${n}`, (counts.get(`snapshot ${n}`) ?? 0) / n);
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const base = counts.get('baseline') ?? Number.NaN;
  const rows: Row[] = [];
  for (const [name, value] of counts) {
    if (name === 'baseline') continue;
    const [script, n] = name.split(' ');
    rows.push({
      case: `Redis ${script}, ${n === '1' ? '1 budget' : '3 budgets'}`,
      metric: 'server instructions per budget (valgrind); × the HINCRBY script',
      result: `${fmtCount(value)}; ${(value / base).toFixed(1)}× baseline ${fmtCount(base)}`,
    });
  }
  return {
    rows,
    notes: [
      `Script instructions: a private redis-server under valgrind (callgrind), ${calls} sequential calls per script, counted only while they run; the baseline is the HINCRBY script. Whole-server counts (the command's parsing and reply included), per budget.`,
    ],
  };
}
