import { Controller, Get, Injectable } from '@nestjs/common';
import request from 'supertest';
import { defer, firstValueFrom, of } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../lib/core/ledger.js';
import { BudgetExceededError, TokencapError } from '../../lib/errors.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';

const NO_RATE = { credit: 0, burnRate: null, projectedExhaustion: null };

describe('BudgetService', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const start = async (extra: Parameters<typeof createTestApp>[0] = {}) => {
    t = await createTestApp({ imports: [TokencapModule.forRoot({ thresholds: [0.5] })], ...extra });
    return t.get(BudgetService);
  };

  it('run() opens budgets programmatically, with the module defaults, and nests them', async () => {
    const budgets = await start();
    const result = await budgets.run({ scope: 'session', key: 'abc', limit: 1000 }, async () => {
      await budgets.charge(100);
      return budgets.run(
        [{ scope: 'agent', key: 'a1', limit: { tokens: 500, usd: 1 } }],
        async () => {
          await budgets.charge({ tokens: 300, usd: 0.25 });
          return {
            open: budgets.openBudgets().map((b) => [b.id, b.thresholds]),
            session: await budgets.usage('session'),
            agent: await budgets.usage('agent'),
          };
        },
      );
    });
    expect(result.open).toEqual([
      ['session:abc', [0.5]],
      ['agent:a1', [0.5]],
    ]);
    expect(result.session).toMatchObject({
      scope: 'session',
      key: 'abc',
      used: 400,
      remaining: 600,
      limit: 1000,
    });
    expect(result.agent).toEqual({
      scope: 'agent',
      key: 'a1',
      dimension: 'tokens',
      limit: 500,
      used: 300,
      reserved: 0,
      remaining: 200,
      credit: 0,
      burnRate: null,
      projectedExhaustion: null,
      dimensions: {
        tokens: { ...NO_RATE, limit: 500, used: 300, reserved: 0, remaining: 200 },
        usd: { ...NO_RATE, limit: 1, used: 0.25, reserved: 0, remaining: 0.75 },
      },
      windowEnd: null,
    });
    expect(budgets.openBudgets()).toEqual([]);
    expect(
      t.events.filter((e) => e.type === 'threshold').map((e) => `${e.scope}:${e.dimension}`),
    ).toEqual(['agent:tokens']);
  });

  it('run() subscribes an Observable result inside the budgets', async () => {
    const budgets = await start();
    const ids = await firstValueFrom(
      budgets.run({ scope: 'job', key: 'j', limit: 10 }, () =>
        // Runs at subscription, which must happen inside the budgets.
        defer(() => of(budgets.openBudgets().map((b) => b.id))),
      ),
    );
    expect(ids).toEqual(['job:j']);
  });

  it('reserve() refuses before the call and commit() records the actual usage', async () => {
    const budgets = await start();
    await budgets.run({ scope: 'job', key: 'j', limit: 100 }, async () => {
      const r = await budgets.reserve(80);
      await expect(budgets.reserve(30)).rejects.toBeInstanceOf(BudgetExceededError);
      await r.commit({ tokens: 60 });
      const second = await budgets.reserve({
        base: { tokens: 10 },
        units: { min: 1, max: 1000, ifUnbounded: 0 },
      });
      expect(second.units).toBe(30);
      await second.release();
      expect(await budgets.usage('job')).toMatchObject({ used: 60, reserved: 0 });
    });
  });

  it('names the scope, and what is open, when usage() finds no such budget', async () => {
    const budgets = await start();
    await expect(budgets.usage('session')).rejects.toThrow(
      'No budget of scope "session" is open here (none is open). usage() reads the budgets opened by @Budget or BudgetService.run() around the calling code.',
    );
    await budgets.run({ scope: 'job', key: 'j', limit: 10 }, () =>
      expect(budgets.usage('session')).rejects.toThrow(
        'No budget of scope "session" is open here (open: job).',
      ),
    );
  });

  it('refuses to charge or reserve outside any budget', async () => {
    const budgets = await start();
    await expect(budgets.charge(10)).rejects.toThrow(TokencapError);
    await expect(budgets.charge(10)).rejects.toThrow(
      'BudgetService.charge() was called outside any budget: call it from a method with @Budget, or inside BudgetService.run().',
    );
    await expect(budgets.reserve(10)).rejects.toThrow(
      'BudgetService.reserve() was called outside any budget',
    );
  });

  it('validates charged amounts', async () => {
    const budgets = await start();
    await budgets.run({ scope: 'job', key: 'j', limit: 10 }, async () => {
      await expect(budgets.charge(-1)).rejects.toThrow(
        'Invalid tokens usage -1: expected a finite number of at least 0.',
      );
      await expect(budgets.charge({ dollars: 1 } as never)).rejects.toThrow(
        'Invalid usage: unknown dimension "dollars"; expected tokens, usd or requests.',
      );
    });
  });

  it('resolves async scope resolvers once per request, for the handler and the services it calls', async () => {
    let resolved = 0;
    @Injectable()
    class Worker {
      constructor(private readonly budgets: BudgetService) {}
      // Not async: with an async key it answers with a Promise (documented).
      @Budget('tenant', 1000)
      ids(): string[] {
        return this.budgets.openBudgets().map((b) => b.id);
      }
    }
    @Controller()
    class TenantController {
      constructor(
        private readonly worker: Worker,
        private readonly budgets: BudgetService,
      ) {}
      @Get('tenant')
      @Budget('tenant', 1000)
      async get() {
        return {
          outer: this.budgets.openBudgets().map((b) => b.id),
          inner: await this.worker.ids(),
        };
      }
    }
    const tenant = async (req: { headers: Record<string, string> } | undefined) => {
      resolved += 1;
      await new Promise<void>((r) => setImmediate(r));
      return req?.headers['x-tenant'];
    };
    t = await createTestApp({
      imports: [TokencapModule.forRoot({ scopes: { tenant } })],
      controllers: [TenantController],
      providers: [Worker],
    });
    const res = await request(t.app.getHttpServer())
      .get('/tenant')
      .set('x-tenant', 'acme')
      .expect(200);
    expect(res.body).toEqual({ outer: ['tenant:acme'], inner: ['tenant:acme'] });
    expect(resolved).toBe(1);
    await request(t.app.getHttpServer()).get('/tenant').expect(400);

    // Outside a request the async resolver gets no request: the plain method answers with a Promise.
    const outside = t.get(Worker).ids() as unknown as Promise<string[]>;
    expect(outside).toBeInstanceOf(Promise);
    await expect(outside).rejects.toMatchObject({ name: 'BudgetKeyMissingError', scope: 'tenant' });
  });

  it('exposes the ledger', async () => {
    const budgets = await start();
    expect(budgets.ledger).toBe(t.app.get(Ledger));
  });
});
