import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type SampleApp, startSample } from '../../../sample/bootstrap.js';
import { CLAUDE_CHAT_MODEL, SESSION_LIMIT } from '../../../sample/sample.config.js';

describe('the sample chat on Anthropic, with no API key', () => {
  let sample: SampleApp | undefined;
  afterEach(async () => {
    await sample?.close();
    sample = undefined;
  });

  const chat = (path: string, session: string, message: string) =>
    request(sample!.app.getHttpServer()).post(path).set('x-session-id', session).send({ message });

  it('?provider=anthropic answers from the fake Anthropic server, inside the session budget until a 429', async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true });
    const fake = sample.fakeAnthropic!;
    const first = await chat('/api/chat?provider=anthropic', 's1', 'Hello!').expect(200);
    expect(first.body).toMatchObject({ provider: 'anthropic', model: CLAUDE_CHAT_MODEL });
    expect(first.body.reply.length).toBeGreaterThan(0);
    expect(first.body.usage.output_tokens).toBe(200);
    expect(fake.tally.requests).toBe(1);
    expect(sample.fake!.tally.requests).toBe(0);

    const long = 'Please read this paragraph of the contract and tell me what it means. '.repeat(
      100,
    );
    let refused: request.Response | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await chat('/api/chat?provider=anthropic', 's1', long);
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(200);
    }
    expect(refused?.body).toMatchObject({
      statusCode: 429,
      error: 'Budget Exceeded',
      scope: 'session',
      limit: SESSION_LIMIT.tokens,
    });
    await fake.settled();
    const billed =
      fake.tally.inputTokens +
      fake.tally.cacheReadInputTokens +
      fake.tally.cacheCreationInputTokens +
      fake.tally.outputTokens;
    expect(billed).toBeLessThanOrEqual(SESSION_LIMIT.tokens);
    const usage = await request(sample.app.getHttpServer())
      .get('/api/usage')
      .set('x-session-id', 's1')
      .expect(200);
    expect(usage.body.used).toBe(billed);
    expect(usage.body.dimensions.usd.used).toBeGreaterThan(0);
    // Both providers share the one session budget.
    const before = usage.body.used as number;
    const openai = await chat('/api/chat?provider=openai', 's1', 'Hi').expect(200);
    const after = await request(sample.app.getHttpServer())
      .get('/api/usage')
      .set('x-session-id', 's1');
    expect(after.body.used).toBe(before + openai.body.usage.total_tokens);
  });

  it('TOKENCAP_SAMPLE_PROVIDER (here the provider option) sets the default; an unknown provider is a 400', async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true, provider: 'anthropic' });
    const res = await chat('/api/chat', 's2', 'Hi').expect(200);
    expect(res.body.provider).toBe('anthropic');
    const bad = await chat('/api/chat?provider=gemini', 's2', 'Hi').expect(400);
    expect(bad.body.message).toBe('Unknown provider "gemini": expected openai or anthropic.');
    await expect(
      startSample({ port: 0, quiet: true, fake: true, provider: 'x' as never }),
    ).rejects.toThrow(`Invalid TOKENCAP_SAMPLE_PROVIDER "x": expected 'openai' or 'anthropic'.`);
  });
});
