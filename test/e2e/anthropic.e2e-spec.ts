import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAnthropicServer, startFakeAnthropic } from '../../lib/testing/index.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { anthropicChatModule, CLAUDE_MODEL } from '../fixtures/anthropic-chat.fixture.js';
import { SESSION_HEADER } from '../fixtures/scopes.fixture.js';

describe('a Nest app with @Budget and an injected wrapped Anthropic client', () => {
  let server: FakeAnthropicServer;
  let t: TestApp;
  beforeAll(async () => {
    server = await startFakeAnthropic({ replyTokens: 300, keepAlive: false });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await t?.app.close();
    await server.settled();
    server.reset();
  });

  const post = (path: string, session: string, body: object) =>
    request(t.app.getHttpServer()).post(path).set(SESSION_HEADER, session).send(body);

  it('meters each call to the session, publishes usage with the model, and refuses with 429 before calling Anthropic', async () => {
    t = await createTestApp({ imports: [anthropicChatModule(server.baseURL)] });
    const first = await post('/claude/chat', 'alice', { message: 'Hello there' }).expect(200);
    const { usage } = first.body as { usage: { input_tokens: number; output_tokens: number } };
    expect(usage.output_tokens).toBe(200);
    const usageEvent = t.events.find((e) => e.type === 'usage' && e.scope === 'session');
    expect(usageEvent).toMatchObject({
      scope: 'session',
      key: 'alice',
      used: usage.input_tokens + 200,
      details: {
        model: CLAUDE_MODEL,
        inputTokens: usage.input_tokens,
        outputTokens: 200,
        source: 'provider',
      },
    });

    // The session has about 1,500 − 214 tokens left: a long prompt cannot fit.
    const requestsBefore = server.requests.length;
    const refused = await post('/claude/chat', 'alice', {
      message: 'Please review every line of this contract carefully. '.repeat(150),
    }).expect(429);
    expect(refused.body).toMatchObject({
      statusCode: 429,
      error: 'Budget Exceeded',
      scope: 'session',
      limit: 1_500,
      used: usage.input_tokens + 200,
    });
    expect(refused.body.message).toMatch(
      /^Budget "session" exceeded: the call needs \d+ tokens, \d+ of 1500 tokens remain\.$/,
    );
    expect(JSON.stringify(refused.body)).not.toContain('alice');
    expect(server.requests.length).toBe(requestsBefore);
    expect(t.events.filter((e) => e.type === 'refused')).toEqual([
      expect.objectContaining({
        scope: 'session',
        key: 'alice',
        dimension: 'tokens',
        policy: 'hard-stop',
      }),
    ]);

    // Another session is untouched.
    await post('/claude/chat', 'bob', { message: 'Hello there' }).expect(200);
  });

  it('clamps max_tokens to what the session has left, and never lets Anthropic bill past it', async () => {
    t = await createTestApp({ imports: [anthropicChatModule(server.baseURL)] });
    let status = 200;
    for (let i = 0; i < 20 && status === 200; i++) {
      status = (await post('/claude/chat', 'carol', { message: 'Tell me more.', maxTokens: 4_096 }))
        .status;
    }
    expect(status).toBe(429);
    const billed = server.tally.inputTokens + server.tally.outputTokens;
    expect(billed).toBeLessThanOrEqual(1_500);
    const sent = server.requests.map((r) => (r.body as { max_tokens: number }).max_tokens);
    expect(sent.every((m) => m < 4_096)).toBe(true);
  });

  it('a service method budget nests inside the route budget; the stream helper is metered too', async () => {
    t = await createTestApp({
      imports: [anthropicChatModule(server.baseURL, { counting: 'api' })],
    });
    const summary = await post('/claude/summary', 'dave', { text: 'the quarterly report' }).expect(
      200,
    );
    const total = summary.body.input_tokens + summary.body.output_tokens;
    const usage = t.events.filter((e) => e.type === 'usage');
    expect(usage.map((e) => [e.scope, e.used])).toEqual(
      expect.arrayContaining([
        ['task', total],
        ['session', total],
      ]),
    );
    const streamed = await post('/claude/stream', 'dave', {}).expect(200);
    expect(streamed.body.usage.output_tokens).toBe(200);
    const sessionUsage = t.events.filter((e) => e.type === 'usage' && e.scope === 'session').at(-1);
    expect(sessionUsage).toMatchObject({
      used: total + streamed.body.usage.input_tokens + 200,
      details: { model: CLAUDE_MODEL },
    });
    expect(server.tally.countTokensRequests).toBe(2);
  });
});
