import { Injectable, Module } from '@nestjs/common';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { TokencapEvent } from '../../lib/core/events.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import type { TokencapModuleOptions } from '../../lib/nest/tokencap-options.interface.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { chatModule, SummaryService } from '../fixtures/chat.fixture.js';
import { FakeLlm, LlmProvider } from '../fixtures/fake-llm.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';

describe('two apps in one process', () => {
  let apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.app.close()));
    apps = [];
  });

  it('never see each other’s budgets, events or bound methods', async () => {
    const a = await createTestApp({ imports: [chatModule()] });
    const b = await createTestApp({ imports: [chatModule()] });
    apps = [a, b];

    const ask = (t: TestApp, tokens: number) =>
      request(t.app.getHttpServer())
        .post('/chat')
        .set(SESSION_HEADER, 'same-session')
        .send({ tokens });
    expect((await ask(a, 700).expect(201)).body.usage).toMatchObject({ used: 700 });
    expect((await ask(b, 100).expect(201)).body.usage).toMatchObject({ used: 100 });
    await ask(a, 700).expect(429);
    expect((await ask(b, 700).expect(201)).body.usage).toMatchObject({ used: 800 });

    // The same class (and the same wrapped method), one instance per app, each bound to its own ledger.
    const [sa, sb] = [a.get(SummaryService), b.get(SummaryService)];
    expect(sa).not.toBe(sb);
    await sa.summarize(10);
    await sb.summarize(20);
    await sb.summarize(30);
    const usage = (t: TestApp) =>
      t.events.filter((e) => e.type === 'usage').map((e) => `${e.scope}:${e.used}`);
    expect(usage(a)).toEqual(['session:700', 'task:10']);
    expect(usage(b)).toEqual(['session:100', 'session:800', 'task:20', 'task:30']);
    expect(a.get(LlmProvider).calls).toBe(2);
    expect(b.get(LlmProvider).calls).toBe(4);
  });

  it("a budgeted method of one app called inside another app's frame charges only its own app", async () => {
    const a = await createTestApp({ imports: [chatModule()] });
    const b = await createTestApp({ imports: [chatModule()] });
    apps = [a, b];
    const inner = await a
      .get(BudgetService)
      .run({ scope: 'session', key: 'k', limit: 1000 }, () => b.get(SummaryService).summarize(5));
    expect(inner).toEqual([expect.stringMatching(/^task:/)]);
    expect(a.events).toEqual([]);
    expect(b.events.map((e) => e.type)).toEqual(['usage']);
  });

  it('completes events$ when the app closes', async () => {
    const a = await createTestApp({ imports: [chatModule()] });
    let completed = false;
    const seen: TokencapEvent[] = [];
    a.get(BudgetService).events$.subscribe({
      next: (e) => seen.push(e),
      complete: () => (completed = true),
    });
    let thresholdsCompleted = false;
    a.get(BudgetService).thresholds$.subscribe({ complete: () => (thresholdsCompleted = true) });
    await a.get(SummaryService).summarize(5);
    expect(completed).toBe(false);
    await a.app.close();
    expect(completed).toBe(true);
    expect(thresholdsCompleted).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('configures with forRootAsync (imports, inject, useFactory)', async () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    @Injectable()
    class BudgetConfig {
      readonly options: TokencapModuleOptions = { scopes: fixtureScopes, thresholds: [0.5], store };
    }
    @Module({ providers: [BudgetConfig], exports: [BudgetConfig] })
    class ConfigModule {}

    const t = await createTestApp({
      imports: [
        TokencapModule.forRootAsync({
          imports: [ConfigModule],
          inject: [BudgetConfig],
          useFactory: (config: BudgetConfig) => config.options,
        }),
      ],
      providers: [SummaryService, LlmProvider, FakeLlm],
    });
    apps = [t];
    await t.get(SummaryService).summarize(300);
    expect(
      t.events.map((e) => (e.type === 'threshold' ? `threshold@${e.threshold}` : e.type)),
    ).toEqual(['usage', 'threshold@0.5']);
    expect(store.size).toBe(1);
  });

  it('is global by default and can be made local with isGlobal: false', async () => {
    // BudgetService (injected into FakeLlm) resolves inside a feature module only when global.
    @Module({ providers: [SummaryService, LlmProvider, FakeLlm], exports: [SummaryService] })
    class Feature {}
    const t = await createTestApp({
      imports: [TokencapModule.forRoot({ scopes: fixtureScopes }), Feature],
    });
    apps = [t];
    expect(await t.get(SummaryService).summarize(1)).toHaveLength(1);
    await expect(
      createTestApp({
        imports: [TokencapModule.forRoot({ scopes: fixtureScopes, isGlobal: false }), Feature],
      }),
    ).rejects.toThrow(/BudgetService/);
  });
});
