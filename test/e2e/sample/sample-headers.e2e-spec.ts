import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type SampleApp, startSample } from '../../../sample/bootstrap.js';
import { SESSION_LIMIT } from '../../../sample/sample.config.js';

describe('the sample’s responses carry the RateLimit headers', () => {
  let sample: SampleApp | undefined;
  afterEach(async () => {
    await sample?.close();
    sample = undefined;
  });

  it('report the session budget after each chat turn, on /api/usage, and on the 429 (no Retry-After: it never resets)', async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true });
    const server = sample.app.getHttpServer();
    const chat = (message: string) =>
      request(server).post('/api/chat').set('x-session-id', 'hdr').send({ message });
    const policy = `"session";q=${SESSION_LIMIT.tokens}`;

    const first = await chat('Hello!').expect(200);
    expect(first.headers['ratelimit-policy']).toBe(policy);
    const spent = first.body.usage.total_tokens as number;
    expect(spent).toBeGreaterThan(0);
    expect(first.headers.ratelimit).toBe(`"session";r=${SESSION_LIMIT.tokens - spent}`);

    const usage = await request(server).get('/api/usage').set('x-session-id', 'hdr').expect(200);
    expect(usage.headers.ratelimit).toBe(`"session";r=${usage.body.remaining}`);
    expect(usage.body.remaining).toBe(SESSION_LIMIT.tokens - spent);

    const long = 'Please summarise the following contract clause in plain words. '.repeat(150);
    let refused: request.Response | undefined;
    let used = spent;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await chat(long);
      if (res.status === 429) refused = res;
      else {
        expect(res.status).toBe(200);
        used += res.body.usage.total_tokens as number;
        expect(res.headers.ratelimit).toBe(`"session";r=${SESSION_LIMIT.tokens - used}`);
      }
    }
    expect(refused?.body).toMatchObject({ statusCode: 429, scope: 'session', used });
    expect(refused?.headers['ratelimit-policy']).toBe(policy);
    expect(refused?.headers.ratelimit).toBe(`"session";r=${SESSION_LIMIT.tokens - used}`);
    expect(refused?.headers['retry-after']).toBeUndefined();
  });
});
