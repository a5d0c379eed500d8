import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { chatModule } from '../fixtures/chat.fixture.js';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import { SESSION_HEADER } from '../fixtures/scopes.fixture.js';

describe('session budgets over HTTP', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  const ask = (session: string | undefined, tokens: number) => {
    const req = request(t.app.getHttpServer()).post('/chat');
    if (session !== undefined) req.set(SESSION_HEADER, session);
    return req.send({ tokens });
  };

  it('lasts across requests and refuses with 429 and the exact body before the provider is called', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const provider = t.get(LlmProvider);

    for (let i = 1; i <= 3; i++) {
      const res = await ask('alice', 300).expect(201);
      expect(res.body.usage).toMatchObject({
        scope: 'session',
        key: 'alice',
        used: 300 * i,
        limit: 1000,
      });
    }
    expect(provider.calls).toBe(3);

    const refused = await ask('alice', 300).expect(429);
    expect(refused.body).toEqual({
      statusCode: 429,
      error: 'Budget Exceeded',
      message: 'Budget "session" exceeded: the call needs 300 tokens, 100 of 1000 tokens remain.',
      scope: 'session',
      limit: 1000,
      used: 900,
    });
    expect(refused.headers['content-type']).toMatch(/application\/json/);
    expect(provider.calls).toBe(3);

    // Another session is unaffected.
    const bob = await ask('bob', 300).expect(201);
    expect(bob.body.usage).toMatchObject({ key: 'bob', used: 300, remaining: 700 });
    expect(provider.calls).toBe(4);

    // A call that still fits goes through, then the budget is spent for good.
    await ask('alice', 100).expect(201);
    const spent = await ask('alice', 1).expect(429);
    expect(spent.body).toEqual({
      statusCode: 429,
      error: 'Budget Exceeded',
      message: 'Budget "session" exceeded: the call needs 1 tokens, 0 of 1000 tokens remain.',
      scope: 'session',
      limit: 1000,
      used: 1000,
    });
    expect(JSON.stringify(spent.body)).not.toContain('alice');
    expect(JSON.stringify(spent.body)).not.toContain('bob');
  });

  it('publishes threshold 0.8 then 0.9 exactly once per session', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    for (let i = 0; i < 12; i++) {
      await ask('alice', 100);
      await ask('bob', 100);
    }
    const thresholds = t.events.filter((e) => e.type === 'threshold');
    for (const key of ['alice', 'bob']) {
      expect(thresholds.filter((e) => e.key === key)).toEqual([
        expect.objectContaining({ scope: 'session', key, threshold: 0.8, used: 800, limit: 1000 }),
        expect.objectContaining({ scope: 'session', key, threshold: 0.9, used: 900, limit: 1000 }),
      ]);
      const ofKey = t.events.filter((e) => 'key' in e && e.key === key).map((e) => e.type);
      expect(ofKey.filter((type) => type === 'exhausted')).toHaveLength(1);
      expect(ofKey.filter((type) => type === 'refused')).toHaveLength(2);
      expect(ofKey.filter((type) => type === 'usage')).toHaveLength(10);
    }
    expect(thresholds).toHaveLength(4);
  });

  it('thresholds$ carries only threshold events', async () => {
    t = await createTestApp({ imports: [chatModule({ thresholds: [0.5] })] });
    const { BudgetService } = await import('../../lib/nest/budget.service.js');
    const seen: unknown[] = [];
    t.get(BudgetService).thresholds$.subscribe((e) => seen.push(e));
    await ask('alice', 400);
    await ask('alice', 400);
    expect(seen).toEqual([
      expect.objectContaining({ type: 'threshold', key: 'alice', threshold: 0.5, used: 800 }),
    ]);
  });

  it('answers 400 with the exact body when the session key is missing', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const res = await ask(undefined, 100).expect(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message:
        'No budget key for scope "session": its resolver returned nothing for this request, and a ' +
        'request without a key is refused rather than left unlimited.',
      scope: 'session',
    });
    expect(t.get(LlmProvider).calls).toBe(0);
  });

  it('answers 400 when a budgeted service method called by the handler has no key', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    const res = await request(t.app.getHttpServer())
      .post('/chat/user')
      .send({ tokens: 100 })
      .expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', scope: 'user' });
    expect(t.get(LlmProvider).calls).toBe(0);
  });

  it("with onMissingKey 'skip', runs the call without that budget", async () => {
    t = await createTestApp({ imports: [chatModule({ onMissingKey: 'skip' })] });
    const res = await request(t.app.getHttpServer())
      .post('/chat/user')
      .send({ tokens: 100 })
      .expect(201);
    expect(res.body).toEqual({ inner: [expect.stringMatching(/^task:/)], outer: [] });
    const keyed = await request(t.app.getHttpServer())
      .post('/chat/user')
      .set('x-user-id', 'u1')
      .send({ tokens: 100 })
      .expect(201);
    expect(keyed.body.inner).toEqual(['user:u1', expect.stringMatching(/^task:/)]);
  });

  it('answers 503 with the exact body when the store is down (fail-closed)', async () => {
    const down: LedgerStore = {
      reserve: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:6379')),
      commit: () => Promise.reject(new Error('down')),
      release: () => Promise.reject(new Error('down')),
      snapshot: () => Promise.reject(new Error('down')),
    };
    const warnings: string[] = [];
    t = await createTestApp({
      imports: [chatModule({ store: down, logger: { warn: (m) => warnings.push(m) } })],
    });
    const res = await ask('alice', 100).expect(503);
    expect(res.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'The budget store is unavailable, so the call was refused. Try again later.',
    });
    expect(t.get(LlmProvider).calls).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(t.events).toContainEqual(
      expect.objectContaining({ type: 'store-error', mode: 'fail-closed' }),
    );
  });

  it('gives request and task budgets a ttl, so the store drops them once idle', async () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    t = await createTestApp({ imports: [chatModule({ store, reservationTtl: '2m' })] });
    await request(t.app.getHttpServer()).get('/chat/stream').expect(200);
    await request(t.app.getHttpServer())
      .post('/chat/summary')
      .set(SESSION_HEADER, 'alice')
      .send({ tokens: 10 });
    // request:<id>, session:alice, task:<id>
    expect(store.size).toBe(3);
    store.sweep(Date.now() + 120_000 + 1);
    expect(store.size).toBe(1);
  });
});
