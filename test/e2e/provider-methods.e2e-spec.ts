import { Injectable, type INestApplicationContext, Module, Scope } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import request from 'supertest';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BudgetKeyMissingError } from '../../lib/errors.js';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { chatModule, SummaryService } from '../fixtures/chat.fixture.js';
import { FakeLlm, LlmProvider } from '../fixtures/fake-llm.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';

const TASK = /^task:[0-9a-f-]{36}$/;
const REQUEST = /^request:[0-9a-f-]{36}$/;

describe('budgeted provider methods', () => {
  let t: TestApp | undefined;
  let context: INestApplicationContext | undefined;
  afterEach(async () => {
    await t?.app.close();
    await context?.close();
    t = context = undefined;
  });

  it('budgets a service method called outside any request (createApplicationContext)', async () => {
    @Module({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
      providers: [LlmProvider, FakeLlm, SummaryService],
    })
    class ScriptModule {}
    context = await NestFactory.createApplicationContext(ScriptModule, { logger: false });
    const events: string[] = [];
    context
      .get(BudgetService)
      .events$.subscribe((e) => events.push(`${e.type}:${'scope' in e ? e.scope : ''}`));

    const summaries = context.get(SummaryService);
    expect(await summaries.summarize(100)).toEqual([expect.stringMatching(TASK)]);
    expect(events).toEqual(['usage:task']);
    // A task budget is per invocation: 500 each, so 400 fits again in a new task.
    expect(await summaries.summarize(400)).toEqual([expect.stringMatching(TASK)]);
    await expect(summaries.summarize(501)).rejects.toMatchObject({
      name: 'BudgetExceededError',
      scope: 'task',
    });
    expect(context.get(LlmProvider).calls).toBe(2);
  });

  it('budgets a service method taken from the testing module and called directly', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const summaries = t.get(SummaryService);
    expect(summaries.plain()).toEqual(['global:global']);
    const inner = await firstValueFrom(summaries.summarize$(30));
    expect(inner).toEqual([expect.stringMatching(TASK)]);
    expect(t.events.filter((e) => e.type === 'usage')).toEqual([
      expect.objectContaining({ scope: 'task', used: 30 }),
    ]);
  });

  it('calls a resolver with an undefined request outside a request, and refuses when it returns nothing', async () => {
    const session = vi.fn(() => undefined);
    t = await createTestApp({
      imports: [chatModule({ scopes: { session, user: fixtureScopes.user } })],
    });
    const error = await t
      .get(SummaryService)
      .forSession(10)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetKeyMissingError);
    expect(error).toMatchObject({ scope: 'session' });
    expect(session).toHaveBeenCalledWith(undefined, undefined);
    expect(t.get(LlmProvider).calls).toBe(0);
  });

  it("with onMissingKey 'skip', a method outside a request keeps its other budgets", async () => {
    t = await createTestApp({ imports: [chatModule({ onMissingKey: 'skip' })] });
    expect(await t.get(SummaryService).forUser(10)).toEqual([expect.stringMatching(TASK)]);
  });

  it('charges both budgets when a budgeted controller calls a budgeted service (session + task)', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const res = await request(t.app.getHttpServer())
      .post('/chat/summary')
      .set(SESSION_HEADER, 'alice')
      .send({ tokens: 200 })
      .expect(201);
    expect(res.body.outer).toEqual(['session:alice']);
    expect(res.body.inner).toEqual(['session:alice', expect.stringMatching(TASK)]);
    expect(res.body.usage).toMatchObject({ key: 'alice', used: 200 });
    const usage = t.events.filter((e) => e.type === 'usage');
    expect(usage.map((e) => [e.scope, e.used])).toEqual([
      ['session', 200],
      ['task', 200],
    ]);

    // The task's own limit (500) refuses even though the session (1000) could hold it.
    const refused = await request(t.app.getHttpServer())
      .post('/chat/summary')
      .set(SESSION_HEADER, 'alice')
      .send({ tokens: 600 })
      .expect(429);
    expect(refused.body).toMatchObject({ scope: 'task', limit: 500, used: 0 });
  });

  it('resolves the key of a budgeted service method from the request that called it', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const res = await request(t.app.getHttpServer())
      .post('/chat/unbudgeted')
      .set(SESSION_HEADER, 'carol')
      .send({ tokens: 50 })
      .expect(201);
    expect(res.body).toEqual({ inner: ['session:carol'], outer: [] });
  });

  it('runs Observable handlers and Observable service methods inside the frame', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const stream = await request(t.app.getHttpServer()).get('/chat/stream').expect(200);
    expect(stream.body).toEqual({ open: [expect.stringMatching(REQUEST)] });
    const service = await request(t.app.getHttpServer())
      .get('/chat/stream-service')
      .set(SESSION_HEADER, 'dave')
      .expect(200);
    expect(service.body).toEqual({ inner: ['session:dave', expect.stringMatching(TASK)] });
    expect(t.events.filter((e) => e.type === 'usage').map((e) => `${e.scope}:${e.used}`)).toEqual([
      'request:10',
      'session:20',
      'task:20',
    ]);
  });

  it('runs plain-value handlers and plain-value service methods inside the frame', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const res = await request(t.app.getHttpServer()).get('/chat/plain').expect(200);
    expect(res.body.outer).toEqual([expect.stringMatching(REQUEST)]);
    expect(res.body.inner).toEqual([res.body.outer[0], 'global:global']);
  });

  it('binds each instance of the app, not the class: other instances, and closed apps, run unbudgeted', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const summaries = t.get(SummaryService);
    // @Budget wrapped the method when the class was defined; the instance holds no copy of it.
    expect(Object.hasOwn(summaries, 'summarize')).toBe(false);
    expect(summaries.plain).toBe(SummaryService.prototype.plain);
    expect(summaries.summarize.name).toBe('summarize');
    expect(summaries.plain()).toEqual(['global:global']);
    // An instance the app did not create is not bound to it.
    const stray = new SummaryService(t.get(FakeLlm), t.get(BudgetService));
    expect(stray.plain()).toEqual([]);
    await t.app.close();
    // A closed app unbinds its instances.
    expect(summaries.plain()).toEqual([]);
    t = undefined;
  });

  it('outside a request, nested budgeted calls share the outermost call’s request budget', async () => {
    @Injectable()
    class Inner {
      constructor(private readonly budgets: BudgetService) {}
      @Budget('request', 100)
      @Budget('task', 100)
      ids(): string[] {
        return this.budgets.openBudgets().map((b) => b.id);
      }
    }
    // Transient: one instance per consumer, each bound at startup.
    @Injectable({ scope: Scope.TRANSIENT })
    class Outer {
      constructor(
        private readonly inner: Inner,
        private readonly budgets: BudgetService,
      ) {}
      @Budget('request', 100)
      async run(): Promise<{ own: string[]; inner: string[] }> {
        const own = this.budgets.openBudgets().map((b) => b.id);
        return { own, inner: this.inner.ids() };
      }
    }
    @Injectable()
    class Consumer {
      constructor(readonly outer: Outer) {}
    }
    t = await createTestApp({
      imports: [TokencapModule.forRoot()],
      providers: [Inner, Outer, Consumer],
    });
    const outer = t.get(Consumer).outer;
    const first = await outer.run();
    expect(first.own).toEqual([expect.stringMatching(REQUEST)]);
    expect(first.inner).toEqual([first.own[0], expect.stringMatching(TASK)]);
    const second = await outer.run();
    expect(second.own[0]).not.toBe(first.own[0]);
    // Called on its own, the inner method is its own request.
    expect(t.get(Inner).ids()[0]).not.toBe(first.own[0]);
  });
});
