// Section "headers": what the RateLimit headers add to a budgeted HTTP request. Two Nest apps
// (Express) in this process, one with `headers: false`, serve the same budgeted handler (one
// `BudgetService.charge()`); requests alternate between them on keep-alive connections. The added
// figure is the extra usage read per response, plus formatting; with Redis it is one round trip.

import 'reflect-metadata';
import { Agent, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Controller, type INestApplication, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { type LedgerStore, MemoryLedgerStore } from '../lib/engine/index.js';
import { Budget, BudgetService, TokencapModule } from '../lib/index.js';
import { RedisLedgerStore } from '../lib/redis/index.js';
import {
  abTest,
  fmtRatio,
  fmtUs,
  quantile,
  type Row,
  type SectionResult,
  size,
  summarizeAb,
} from './harness.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

@Controller()
class ChargeController {
  constructor(private readonly budgets: BudgetService) {}

  @Post('charge')
  @Budget('session', 1e12, { window: '1h' })
  async charge() {
    await this.budgets.charge(10);
    return { ok: true };
  }
}

async function start(store: LedgerStore, headers: boolean): Promise<INestApplication> {
  @Module({
    imports: [
      TokencapModule.forRoot({
        store,
        headers,
        scopes: {
          session: (req: { headers: Record<string, string> }) => req.headers['x-session-id'],
        },
      }),
    ],
    controllers: [ChargeController],
  })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

function client(app: INestApplication): () => Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const address = app.getHttpServer().address() as { port: number };
  return () =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: address.port,
          path: '/charge',
          method: 'POST',
          agent,
          headers: { 'x-session-id': 'bench', 'content-length': 0 },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 201 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
}

async function measure(label: string, store: () => LedgerStore): Promise<Row> {
  const off = await start(store(), false);
  const on = await start(store(), true);
  try {
    const r = await abTest(client(off), client(on), {
      rounds: size(20, 4),
      batch: size(100, 20),
      warmup: size(200, 20),
    });
    const s = summarizeAb(r);
    return {
      case: `budgeted POST, ${label}`,
      metric: 'added per request by headers: median wall (rounds p10–p90), CPU; throughput on/off',
      result:
        `${fmtUs(s.addedMedian)} (rounds p10–p90 ${fmtUs(s.deltaP10)} … ${fmtUs(s.deltaP90)}), ` +
        `CPU ${fmtUs(s.cpuAdded)}; ${fmtRatio(s.ratio)} (off median ${fmtUs(s.baseMedian)}, ` +
        `p99 on ${fmtUs(quantile(r.b, 0.99))}, n=${r.b.length})`,
      headline: fmtUs(s.addedMedian),
    };
  } finally {
    await off.close();
    await on.close();
  }
}

export async function run(): Promise<SectionResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  rows.push(await measure('memory store', () => new MemoryLedgerStore()));
  const probe = new Redis(URL, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => undefined);
  let redis = false;
  try {
    await probe.connect();
    await probe.ping();
    redis = true;
  } catch {
    notes.push(`Redis: no server answered at ${URL} (set REDIS_URL); the Redis row is skipped.`);
  } finally {
    probe.disconnect();
  }
  if (redis) {
    const prefix = `tokencap-bench:headers:${randomUUID().slice(0, 8)}:`;
    rows.push(await measure('Redis store', () => new RedisLedgerStore({ url: URL, prefix })));
    const cleaner = new Redis(URL);
    const keys = await cleaner.keys(`${prefix}*`);
    if (keys.length > 0) await cleaner.unlink(...keys);
    cleaner.disconnect();
  }
  return { title: 'RateLimit headers on HTTP responses', rows, notes };
}
