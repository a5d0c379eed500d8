import { describe, expect, it } from 'vitest';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import {
  ADAPTERS,
  listenAtFixedTime,
  type ListeningApp,
  send,
} from '../fixtures/http-adapters.fixture.js';
import { httpSurfaceModule } from '../fixtures/http-surface.fixture.js';
import { SESSION_HEADER } from '../fixtures/scopes.fixture.js';

// Half past midnight: the 1h session window resets in 1800 s. Only Date is faked.
const NOW = Date.UTC(2026, 0, 1, 0, 30, 0);

// Express hands an error of a StreamableFile's stream to the file's error handler, not to
// exception filters: a refusal there must still be the documented 429 as on Fastify (and, once
// bytes went out, the connection closed as on Fastify, so the cut file cannot pass for a whole one).
describe.each(ADAPTERS)('a refusal while a StreamableFile is read, on %s', (adapter) => {
  const listen = listenAtFixedTime(NOW);
  let t: ListeningApp | undefined;

  const spend = async (session: string, tokens: number) => {
    const res = await send(`${t!.url}/h/chat`, 'POST', { tokens }, { [SESSION_HEADER]: session });
    expect(res.status).toBe(201);
  };

  it('answers 429 with the JSON body, Retry-After and the RateLimit fields before any byte', async () => {
    t = await listen(adapter, { imports: [httpSurfaceModule()] });
    const provider = t.app.get(LlmProvider);
    await spend('s1', 450);
    await spend('s1', 450);
    const calls = provider.calls;
    const res = await send(`${t.url}/h/file-first?tokens=200`, 'GET', undefined, {
      [SESSION_HEADER]: 's1',
    });
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toBeUndefined();
    expect(res.body).toEqual({
      statusCode: 429,
      error: 'Budget Exceeded',
      message: 'Budget "session" exceeded: the call needs 200 tokens, 100 of 1000 tokens remain.',
      scope: 'session',
      limit: 1000,
      used: 900,
    });
    expect(res.headers['retry-after']).toBe('1800');
    expect(res.headers['ratelimit-policy']).toBe('"session";q=1000;w=3600');
    expect(res.headers.ratelimit).toBe('"session";r=100;t=1800');
    expect(provider.calls).toBe(calls);
  });

  it('still streams a file whose calls fit', async () => {
    t = await listen(adapter, { imports: [httpSurfaceModule()] });
    const res = await send(`${t.url}/h/file-first?tokens=200`, 'GET', undefined, {
      [SESSION_HEADER]: 's2',
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('z');
    expect(res.headers['content-disposition']).toBe('attachment; filename="steps.txt"');
  });

  it('closes the connection once bytes went out', async () => {
    t = await listen(adapter, { imports: [httpSurfaceModule()] });
    const provider = t.app.get(LlmProvider);
    await spend('s3', 450);
    await spend('s3', 300);
    // 100 tokens fit (850 used), 'x' goes out, then 200 more do not.
    await expect(
      send(`${t.url}/h/file`, 'GET', undefined, { [SESSION_HEADER]: 's3' }),
    ).rejects.toThrow('aborted');
    expect(provider.tokens).toBe(850);
  });
});
