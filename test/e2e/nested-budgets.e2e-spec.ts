import { Controller, Injectable, Post } from '@nestjs/common';
import OpenAI from 'openai';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { UsageEvent } from '../../lib/core/events.js';
import { Ledger } from '../../lib/core/ledger.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import {
  agentSteps,
  LIMIT,
  openAIProvider,
  STEP,
  useFakeOpenAI,
} from '../fixtures/openai.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from '../redis/support/redis-env.js';

const fake = useFakeOpenAI();
const OUTER = 10 * LIMIT;

/** A service with a tighter budget of the same scope as the controller that calls it. */
@Injectable()
class Research {
  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  /** Loops until refused. */
  @Budget('session', LIMIT)
  async run(): Promise<{ steps: number }> {
    let steps = 0;
    for await (const _ of agentSteps(this.openai)) steps++;
    return { steps };
  }

  /** The same declaration as the controller's: opened once. */
  @Budget('session', OUTER)
  same(): string[] {
    return this.budgets.openBudgets().map((b) => `${b.scope}:${b.key}/${b.limits.tokens}`);
  }
}

@Controller('nested')
class NestedController {
  constructor(private readonly research: Research) {}

  @Post('research')
  @Budget('session', OUTER)
  research_() {
    return this.research.run();
  }

  @Post('same')
  @Budget('session', OUTER)
  same() {
    return this.research.same();
  }
}

const stores: [string, () => Promise<LedgerStore | undefined>][] = [
  ['memory store', async () => new MemoryLedgerStore({ sweepInterval: false })],
  [
    'Redis store',
    async () =>
      (await redisAvailable('nested budgets'))
        ? new RedisLedgerStore({ url: REDIS_URL, prefix: uniquePrefix('nested') })
        : undefined,
  ],
];

describe.each(stores)('nested budgets of the same scope and key (%s)', (_, makeStore) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  async function start(): Promise<TestApp | undefined> {
    const store = await makeStore();
    if (!store) return undefined;
    t = await createTestApp({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes, store })],
      controllers: [NestedController],
      providers: [openAIProvider(fake), Research],
    });
    return t;
  }

  it('a service’s tighter budget holds inside the controller’s looser one: both are checked', async () => {
    const app = await start();
    if (!app) return;
    const res = await request(app.app.getHttpServer())
      .post('/nested/research')
      .set(SESSION_HEADER, 'alice')
      .expect(429);
    // The inner 3-step budget refused the fourth step; the outer one had room for thirty.
    expect(res.body).toMatchObject({ scope: 'session', limit: LIMIT, used: 3 * STEP });
    await fake.server.settled();
    expect(fake.server.tally.requests).toBe(3);
    expect(fake.server.tally.totalTokens).toBe(3 * STEP);

    // One ledger, charged once per call, checked against both limits.
    const [usage] = await app
      .get(Ledger)
      .usage([defineBudget({ scope: 'session', key: 'alice', limit: OUTER })]);
    expect(usage.used).toBe(3 * STEP);
    const usageEvents = app.events.filter((e): e is UsageEvent => e.type === 'usage');
    expect(usageEvents.map((e) => [e.limit, e.used])).toEqual([
      [OUTER, STEP],
      [LIMIT, STEP],
      [OUTER, 2 * STEP],
      [LIMIT, 2 * STEP],
      [OUTER, 3 * STEP],
      [LIMIT, 3 * STEP],
    ]);
    expect(
      app.events.filter((e) => e.type === 'refused').map((e) => [e.type, 'limit' in e && e.limit]),
    ).toEqual([['refused', LIMIT]]);
  });

  it('an identical declaration already open is not opened twice', async () => {
    const app = await start();
    if (!app) return;
    const res = await request(app.app.getHttpServer())
      .post('/nested/same')
      .set(SESSION_HEADER, 'bob')
      .expect(201);
    expect(res.body).toEqual([`session:bob/${OUTER}`]);
  });
});
