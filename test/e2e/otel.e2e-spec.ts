import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetService } from '../../lib/nest/budget.service.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { chatModule } from '../fixtures/chat.fixture.js';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import { SESSION_HEADER } from '../fixtures/scopes.fixture.js';
import { total, useTelemetry } from '../unit/otel/otel.harness.js';

// docs/opentelemetry.md's Nest setup: instrumentTokencap on BudgetService.ledger counts every
// 429 as a refusal of its scope, and many sessions make one series, not one per session.

describe('instrumentTokencap in a Nest app', () => {
  const telemetry = useTelemetry();
  let t: TestApp;
  afterEach(() => t?.app.close());

  it('counts each 429 once, by scope, with no series per session', async () => {
    t = await createTestApp({ imports: [chatModule()] });
    telemetry.instrument(t.get(BudgetService).ledger);
    const statuses: number[] = [];
    // 20 sessions of 1,000 tokens, each asked for 400 tokens three times: the third is refused.
    for (let s = 0; s < 20; s++) {
      for (let i = 0; i < 3; i++) {
        const res = await request(t.app.getHttpServer())
          .post('/chat')
          .set(SESSION_HEADER, `session-${s}`)
          .send({ tokens: 400 });
        statuses.push(res.status);
      }
    }
    const refused = statuses.filter((status) => status === 429).length;
    expect(refused).toBe(20);
    expect(t.get(LlmProvider).calls).toBe(40);
    const refusals = await telemetry.points('tokencap.refusals');
    expect(refusals.map((p) => [p.attributes, p.value])).toEqual([
      [
        {
          'tokencap.scope': 'session',
          'tokencap.dimension': 'tokens',
          'tokencap.policy': 'hard-stop',
        },
        refused,
      ],
    ]);
    const usage = await telemetry.points('tokencap.budget.usage');
    expect(usage.map((p) => p.attributes)).toEqual([
      { 'tokencap.scope': 'session', 'tokencap.dimension': 'tokens' },
    ]);
    // Each session committed 400 then 800.
    expect(total(usage)).toBe(20 * (400 + 800));
    expect(usage[0].count).toBe(40);
  });
});
