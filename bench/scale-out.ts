// Section 6: scaling out on Redis Cluster. A three-master loopback Cluster and four Node processes
// with parallel callers, each call reserving and committing on three budgets (session, user,
// global). Today's layout (every ledger in one slot) against tenant hash tags plus a leased global
// budget, interleaved in the same run: Redis server time and round trips per metered call (INFO
// commandstats summed over the masters) and calls per second across the four processes.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisClusterProcesses } from '../test/redis/support/redis-env.js';
import {
  fmtCount,
  fmtRatio,
  fmtUs,
  median,
  QUICK,
  type Row,
  type SectionResult,
} from './harness.js';
import type { ScaleWorkerConfig } from './scale-out-worker.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKERS = 4;
const CALLERS = 16;
const LAYOUTS = ['single-slot', 'tenant+lease', 'tenant+lease-user'] as const;
type Layout = (typeof LAYOUTS)[number];

interface Sample {
  calls: number;
  callsPerSecond: number;
  serverUsPerCall: number;
  cpuUsPerCall: number;
  roundTripsPerCall: number;
}

async function stats(nodes: Redis[]): Promise<{ scripts: number; usec: number; cpuUs: number }> {
  let scripts = 0;
  let usec = 0;
  let cpuUs = 0;
  for (const node of nodes) {
    // CPU the server process used: unlike a script's wall time, it does not grow when the
    // machine's other processes preempt Redis mid-script.
    const cpu = await node.info('cpu');
    for (const m of cpu.matchAll(/^used_cpu_(?:user|sys):([\d.]+)/gm)) cpuUs += Number(m[1]) * 1e6;
    const info = await node.info('commandstats');
    for (const line of info.split('\n')) {
      const m = /^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/.exec(line.trim());
      if (m) {
        scripts += Number(m[2]);
        usec += Number(m[3]);
      }
    }
  }
  return { scripts, usec, cpuUs };
}

async function runLayout(
  ports: number[],
  nodes: Redis[],
  layout: Layout,
  round: number,
  ms: number,
): Promise<Sample> {
  const children = Array.from({ length: WORKERS }, (_, worker) => {
    const config: ScaleWorkerConfig = {
      ports,
      prefix: `bench-${layout}-${round}:`,
      layout,
      callers: CALLERS,
      ms,
      worker,
    };
    return fork(join(here, 'scale-out-worker.js'), [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
  });
  const message = (child: (typeof children)[number], type: string) =>
    new Promise<Record<string, number>>((resolve, reject) => {
      child.on('message', (m: { type?: string }) => {
        if (m?.type === type) resolve(m as unknown as Record<string, number>);
      });
      child.once('exit', (code) => reject(new Error(`scale-out worker exited with ${code}`)));
    });
  await Promise.all(children.map((c) => message(c, 'ready')));
  const before = await stats(nodes);
  const done = children.map((c) => message(c, 'done'));
  for (const c of children) c.send('go');
  const results = await Promise.all(done);
  const after = await stats(nodes);
  const calls = results.reduce((s, r) => s + r.calls, 0);
  const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  return {
    calls,
    callsPerSecond: calls / seconds,
    serverUsPerCall: (after.usec - before.usec) / calls,
    cpuUsPerCall: (after.cpuUs - before.cpuUs) / calls,
    roundTripsPerCall: (after.scripts - before.scripts) / calls,
  };
}

export async function run(): Promise<SectionResult> {
  const cluster = new RedisClusterProcesses(3);
  await cluster.start();
  const nodes = cluster.ports.map((port) => new Redis({ port, host: '127.0.0.1' }));
  const rounds = QUICK ? 1 : 3;
  const ms = QUICK ? 1_000 : 4_000;
  const samples: Record<Layout, Sample[]> = {
    'single-slot': [],
    'tenant+lease': [],
    'tenant+lease-user': [],
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? LAYOUTS : [...LAYOUTS].reverse();
      for (const layout of order) {
        samples[layout].push(await runLayout(cluster.ports, nodes, layout, round, ms));
      }
    }
  } finally {
    for (const node of nodes) node.disconnect();
    await cluster.stop();
  }
  const pick = (layout: Layout, key: keyof Sample) => median(samples[layout].map((s) => s[key]));
  const rows: Row[] = [];
  const names: Record<Layout, string> = {
    'single-slot': "today's layout (single-slot)",
    'tenant+lease': 'tenant tags + leased global',
    'tenant+lease-user': 'tenant tags + leased user and global',
  };
  for (const layout of LAYOUTS) {
    rows.push({
      case: `${names[layout]}, 3 budgets`,
      metric:
        'per metered call: Redis script time (commandstats), Redis CPU (INFO cpu); round trips; calls/s across 4 processes',
      result: `${fmtUs(pick(layout, 'serverUsPerCall'))}, CPU ${fmtUs(pick(layout, 'cpuUsPerCall'))}; ${pick(layout, 'roundTripsPerCall').toFixed(2)}; ${fmtCount(pick(layout, 'callsPerSecond'))}/s`,
    });
  }
  for (const layout of ['tenant+lease', 'tenant+lease-user'] as const) {
    const serverRatio = pick('single-slot', 'serverUsPerCall') / pick(layout, 'serverUsPerCall');
    const cpuRatio = pick('single-slot', 'cpuUsPerCall') / pick(layout, 'cpuUsPerCall');
    const speedRatio = pick(layout, 'callsPerSecond') / pick('single-slot', 'callsPerSecond');
    rows.push({
      case: `${names[layout]} vs single-slot`,
      metric: 'Redis server time per call: less by (script time; CPU)',
      result: `${fmtRatio(serverRatio)}; ${fmtRatio(cpuRatio)}`,
      target: '≥ 5×',
      met: serverRatio >= 5,
    });
    rows.push({
      case: `${names[layout]} vs single-slot`,
      metric: 'calls/s across the 4 processes',
      result: fmtRatio(speedRatio),
      target: '≥ 3×',
      met: speedRatio >= 3,
    });
  }
  return {
    title: '6. Scaling out on Redis Cluster',
    rows,
    notes: [
      `Scale-out: a loopback Cluster of 3 masters; ${WORKERS} processes × ${CALLERS} parallel callers, each looping reserve+commit on session, user and global for ${ms / 1000} s; ${rounds} interleaved rounds, medians. Server time and round trips are EVALSHA usec and calls summed over the masters, per metered call, lease traffic included. On a shared 2-core machine the Node processes, not Redis, bound calls/s.`,
    ],
  };
}
