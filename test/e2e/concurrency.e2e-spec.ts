import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import { Ledger } from '../../lib/core/ledger.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { chatModule } from '../fixtures/chat.fixture.js';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import { SESSION_HEADER } from '../fixtures/scopes.fixture.js';

describe('concurrent requests', () => {
  let t: TestApp;
  afterEach(() => t?.app.close());

  it('keeps exact per-session ledgers over 200 concurrent requests and 20 sessions', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    t.get(LlmProvider).turns = 20;
    await t.app.listen(0, '127.0.0.1');
    const server = t.app.getHttpServer();

    const sessions = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const plans = Array.from({ length: 200 }, (_, i) => ({
      session: sessions[i % 20],
      // Different amounts and call counts per request, so a mixed-up ledger cannot sum right.
      tokens: Array.from({ length: 1 + (i % 3) }, (_, j) => 1 + ((i * 7 + j * 13) % 50)),
    }));
    const responses = await Promise.all(
      plans.map((p) =>
        request(server)
          .post('/chat/many')
          .set(SESSION_HEADER, p.session)
          .send({ tokens: p.tokens }),
      ),
    );

    const requestKeys = new Set<string>();
    responses.forEach((res, i) => {
      const { session, tokens } = plans[i];
      expect(res.status).toBe(201);
      const [requestId] = res.body.seen[0].filter((id: string) => id.startsWith('request:'));
      requestKeys.add(requestId);
      for (let j = 0; j < tokens.length; j++) {
        // The handler's own frame, then the service's, each time: never another request's.
        expect(res.body.seen[2 * j]).toEqual([`session:${session}`, requestId]);
        expect(res.body.seen[2 * j + 1]).toEqual([`session:${session}`, requestId]);
      }
      const own = tokens.reduce((a, b) => a + b, 0) + tokens.length;
      expect(res.body.usage).toMatchObject({ scope: 'request', used: own });
    });
    expect(requestKeys.size).toBe(200);

    const ledger = t.get(Ledger);
    for (const session of sessions) {
      const expected = plans
        .filter((p) => p.session === session)
        .reduce((sum, p) => sum + p.tokens.reduce((a, b) => a + b, 0) + p.tokens.length, 0);
      const [usage] = await ledger.usage([
        defineBudget({ scope: 'session', key: session, limit: 1_000_000 }),
      ]);
      expect({ session, used: usage.used, reserved: usage.reserved }).toEqual({
        session,
        used: expected,
        reserved: 0,
      });
    }
    const calls = plans.reduce((n, p) => n + 2 * p.tokens.length, 0);
    expect(t.get(LlmProvider).calls).toBe(calls);
    // The requests really overlapped.
    expect(t.get(LlmProvider).maxInFlight).toBeGreaterThan(10);
  });
});
