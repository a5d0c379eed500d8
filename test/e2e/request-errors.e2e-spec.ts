import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Budget } from '../../lib/nest/budget.decorator.js';
import { TokencapModule } from '../../lib/nest/tokencap.module.js';
import { wrapOpenAI } from '../../lib/providers/openai/wrap-openai.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing/index.js';
import { createTestApp, type TestApp } from '../fixtures/app.fixture.js';
import { fixtureScopes, SESSION_HEADER } from '../fixtures/scopes.fixture.js';

// A request the caller built badly (a cap the API rejects, an option Tokencap cannot meter, a
// model with no price under a usd budget) is the client's fault: HTTP 400 naming the parameter
// and quoting its value, nothing sent, nothing charged. Before TokencapRequestError these were
// sent and came back as the SDK's BadRequestError (HTTP 500), or were silently capped.

let server: FakeOpenAIServer;

@Controller('llm')
@Budget('session', { tokens: 10_000, usd: 1 })
class LlmController {
  constructor(private readonly openai: OpenAI) {}

  @Post('chat')
  @HttpCode(200)
  chat(@Body() body: Record<string, unknown>) {
    return this.openai.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hello' }],
      ...body,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  }

  @Post('responses')
  @HttpCode(200)
  responses(@Body() body: Record<string, unknown>) {
    return this.openai.responses.create({
      model: 'gpt-4o',
      input: 'Hello',
      ...body,
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
  }
}

@Module({
  imports: [TokencapModule.forRoot({ scopes: fixtureScopes })],
  controllers: [LlmController],
  providers: [
    {
      provide: OpenAI,
      useFactory: () =>
        wrapOpenAI(new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 })),
    },
  ],
})
class LlmModule {}

describe('requests Tokencap refuses as the caller’s fault answer 400', () => {
  let t: TestApp;
  beforeAll(async () => {
    server = await startFakeOpenAI({ keepAlive: false, replyTokens: 10 });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await t?.app.close();
    server.reset();
  });

  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['chat', { max_tokens: -5 }, 'max_tokens', /Invalid max_tokens -5 in the request/],
    ['chat', { max_completion_tokens: 2.5 }, 'max_completion_tokens', /2\.5/],
    ['chat', { n: 0 }, 'n', /Invalid n 0/],
    ['chat', { n: 500 }, 'n', /at most 128/],
    ['chat', { model: 'my-own-model' }, 'model', /No price for model "my-own-model"/],
    ['responses', { max_output_tokens: 8 }, 'max_output_tokens', /at least 16/],
    ['responses', { background: true }, 'background', /background responses cannot be metered/],
  ];

  it.each(cases)('%s %j → 400 naming %s', async (path, body, parameter, message) => {
    t = await createTestApp({ imports: [LlmModule] });
    const res = await request(t.app.getHttpServer())
      .post(`/llm/${path}`)
      .set(SESSION_HEADER, 's1')
      .send(body)
      .expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', parameter });
    expect(res.body.message).toMatch(message);
    expect(server.requests).toHaveLength(0);
    expect(t.events.filter((e) => e.type === 'usage')).toEqual([]);
  });

  it('a valid request still goes through', async () => {
    t = await createTestApp({ imports: [LlmModule] });
    await request(t.app.getHttpServer())
      .post('/llm/responses')
      .set(SESSION_HEADER, 's1')
      .send({ max_output_tokens: 16, background: false })
      .expect(200);
    expect(server.requests).toHaveLength(1);
  });
});
