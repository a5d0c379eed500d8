import { Controller, Get, Param, Post } from '@nestjs/common';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { LIMIT, STEP, openAIProvider, step, useFakeOpenAI } from '../fixtures/openai.fixture.js';
import {
  REDIS_URL,
  deleteByPrefix,
  redisAvailable,
  uniquePrefix,
} from '../redis/support/redis-env.js';

const fake = useFakeOpenAI();
const USER = 'x-user';

@Controller()
class OpsController {
  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  @Post('step')
  @Budget('user', LIMIT, { window: 'day', timeZone: 'Europe/Berlin' })
  async step(): Promise<string> {
    return step(this.openai, 1);
  }

  // No budget is open here: the operations name the scope and key.
  @Get('usage/:user')
  usage(@Param('user') user: string) {
    return this.budgets.usageOf('user', user);
  }

  @Post('credit/:user/:tokens')
  credit(@Param('user') user: string, @Param('tokens') tokens: string) {
    return this.budgets.credit('user', user, Number(tokens));
  }

  @Post('reset/:user')
  reset(@Param('user') user: string) {
    return this.budgets.reset('user', user);
  }
}

const redisUp = await redisAvailable('budget operations on Redis');
let client: Redis | undefined;
const prefix = uniquePrefix('ops-e2e');
beforeAll(() => {
  if (redisUp) client = new Redis(REDIS_URL);
});
afterAll(async () => {
  if (client) {
    await deleteByPrefix(client, prefix);
    await client.quit();
  }
});

const stores: [string, () => LedgerStore][] = [
  ['memory', () => new MemoryLedgerStore({ sweepInterval: false })],
  ...(redisUp
    ? [
        [
          'redis',
          () => new RedisLedgerStore({ client: client!, prefix, commandTimeout: 10_000 }),
        ] as [string, () => LedgerStore],
      ]
    : []),
];

describe.each(stores)('BudgetService operations (%s store)', (_name, makeStore) => {
  let t: TestApp;
  let user: string;
  let n = 0;
  afterEach(() => t?.app.close());

  const start = async () => {
    user = `u${++n}-${Math.random().toString(36).slice(2, 8)}`;
    t = await createTestApp({
      imports: [
        TokencapModule.forRoot({
          scopes: { user: (req: { headers: Record<string, string> }) => req?.headers[USER] },
          store: makeStore(),
        }),
      ],
      controllers: [OpsController],
      providers: [openAIProvider(fake)],
    });
    return request(t.app.getHttpServer());
  };
  // supertest sends a request only once it is awaited: this sends it now.
  const send = (req: request.Test) => req.then((res) => res);
  const untilInFlight = async (count: number) => {
    while (fake.server.inFlight < count) await new Promise((r) => setTimeout(r, 5));
  };

  it('reads any key outside a budget, as the provider billed it, with the window end', async () => {
    const http = await start();
    const before = await http.get(`/usage/${user}`).expect(200);
    expect(before.body).toMatchObject({ scope: 'user', key: user, used: 0, limit: LIMIT });
    await http.post('/step').set(USER, user).expect(201);
    await http.post('/step').set(USER, user).expect(201);
    const after = await http.get(`/usage/${user}`).expect(200);
    expect(after.body).toMatchObject({ used: 2 * STEP, reserved: 0, credit: 0, burnRate: null });
    expect(after.body.used).toBe(fake.server.tally.totalTokens);
    // The end of today in Berlin: a local midnight, after now.
    const end = after.body.windowEnd as number;
    expect(end).toBeGreaterThan(Date.now());
    expect(end - Date.now()).toBeLessThanOrEqual(25 * 3_600_000);
    expect(
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Europe/Berlin',
        hourCycle: 'h23',
        hour: '2-digit',
        minute: '2-digit',
      }).format(end),
    ).toBe('00:00');
  });

  it('credits a key while calls are in flight: no call overshoots the raised limit', async () => {
    const http = await start();
    fake.server.fail({ kind: 'delay', ms: 50 }, { times: 3 });
    const calls = Array.from({ length: 8 }, () => send(http.post('/step').set(USER, user)));
    const credited = send(http.post(`/credit/${user}/${2 * STEP}`).expect(201));
    const more = Array.from({ length: 4 }, () => send(http.post('/step').set(USER, user)));
    const statuses = (await Promise.all([...calls, ...more])).map((r) => r.status);
    const credit = (await credited).body;
    expect(credit).toMatchObject({ key: user, credit: 2 * STEP, limit: LIMIT + 2 * STEP });
    const ok = statuses.filter((s) => s === 201).length;
    expect(statuses.filter((s) => s !== 201).every((s) => s === 429)).toBe(true);
    await fake.server.settled();
    // Whatever the interleaving: never more than the raised limit, and the ledger equals the bill.
    expect(fake.server.tally.totalTokens).toBe(ok * STEP);
    expect(ok * STEP).toBeLessThanOrEqual(LIMIT + 2 * STEP);
    expect(ok).toBeGreaterThanOrEqual(3);
    const usage = (await http.get(`/usage/${user}`).expect(200)).body;
    expect(usage).toMatchObject({ used: ok * STEP, reserved: 0 });
    // Then everything the raised limit holds can be spent, and no more.
    let more2 = 0;
    while ((await http.post('/step').set(USER, user)).status === 201) more2++;
    expect((ok + more2) * STEP).toBeLessThanOrEqual(LIMIT + 2 * STEP);
    expect(LIMIT + 2 * STEP - (ok + more2) * STEP).toBeLessThan(STEP);
    expect(t.events.filter((e) => e.type === 'credit')).toHaveLength(1);
  });

  it('resets a key while calls are in flight: they count in the fresh window', async () => {
    const http = await start();
    await http.post('/step').set(USER, user).expect(201);
    fake.server.fail({ kind: 'delay', ms: 100 }, { times: 2 });
    const calls = [0, 1].map(() => send(http.post('/step').set(USER, user)));
    await untilInFlight(2);
    const reset = await http.post(`/reset/${user}`).expect(201);
    expect(reset.body).toMatchObject({ used: 0, reserved: 2 * STEP });
    expect((await Promise.all(calls)).map((r) => r.status)).toEqual([201, 201]);
    expect((await http.get(`/usage/${user}`).expect(200)).body).toMatchObject({
      used: 2 * STEP,
      reserved: 0,
    });
    await http.post('/step').set(USER, user).expect(201);
    await http.post('/step').set(USER, user).expect(429);
    await fake.server.settled();
    expect(fake.server.tally.totalTokens).toBe(4 * STEP);
    const events = t.events.filter((e) => e.type === 'reset');
    expect(events).toEqual([
      expect.objectContaining({ scope: 'user', key: user, cleared: { tokens: STEP, requests: 1 } }),
    ]);
  });

  it('answers bad operations with errors that name the value, and never calls the provider', async () => {
    await start();
    const budgets = t.get(BudgetService);
    await expect(budgets.usageOf('team', 'a')).rejects.toThrow(
      'BudgetService.usageOf(): unknown scope "team"; known scopes: request, task, global, user.',
    );
    await expect(budgets.credit('user', 'a', -5)).rejects.toThrow(
      'Invalid tokens credit -5 for budget "user"',
    );
    await expect(budgets.credit('user', 'a', { usd: 1 })).rejects.toThrow(
      'it does not limit "usd" (it limits tokens)',
    );
    await expect(budgets.reset('user', '')).rejects.toThrow('invalid key ""');
    await expect(budgets.usageOf('global', 'global')).rejects.toThrow(
      'BudgetService.usageOf(): no @Budget declares scope "global". Pass { limit, window } to name the budget.',
    );
    await expect(budgets.usageOf('user', 'a', { window: '1h' })).rejects.toThrow(
      'no @Budget declares scope "user" with window "1h"',
    );
    expect(await budgets.usageOf('global', 'global', { limit: 10 })).toMatchObject({
      limit: 10,
      used: 0,
    });
    expect(fake.server.requests).toHaveLength(0);
  });

  it('usageOf, credit and reset with a limit act on a run() budget of a scope no @Budget declares', async () => {
    await start();
    const budgets = t.get(BudgetService);
    const selector = { limit: 100, window: '1d' } as const;
    await budgets.run({ scope: 'team', key: 'blue', ...selector }, () => budgets.charge(60));
    expect(await budgets.usageOf('team', 'blue', selector)).toMatchObject({
      scope: 'team',
      key: 'blue',
      used: 60,
      limit: 100,
    });
    expect(await budgets.credit('team', 'blue', 40, selector)).toMatchObject({
      used: 60,
      credit: 40,
      limit: 140,
    });
    await budgets.reset('team', 'blue', selector);
    expect(await budgets.usageOf('team', 'blue', selector)).toMatchObject({ used: 0 });
    // Without a limit the scope still has to be declared.
    await expect(budgets.usageOf('team', 'blue')).rejects.toThrow('unknown scope "team"');
  });
});
