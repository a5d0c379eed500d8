import { describe, expect, it, vi } from 'vitest';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import {
  ADAPTERS,
  listenAtFixedTime,
  type ListeningApp,
  send,
} from '../fixtures/http-adapters.fixture.js';
import { httpSurfaceModule } from '../fixtures/http-surface.fixture.js';
import { USER_HEADER } from '../fixtures/scopes.fixture.js';

// Half past midnight: the 1h window resets in 1800 s, the 1d window in 84,600 s. Only Date is faked.
const NOW = Date.UTC(2026, 0, 1, 0, 30, 0);

describe.each(ADAPTERS)('one scope declared with two windows on a handler, on %s', (adapter) => {
  const listen = listenAtFixedTime(NOW);
  let t: ListeningApp | undefined;

  const chat = (user: string, tokens: number) =>
    send(`${t!.url}/h/two-windows`, 'POST', { tokens }, { [USER_HEADER]: user });

  it('enforces both caps and names them "user" and "user.2" in the RateLimit fields', async () => {
    t = await listen(adapter, { imports: [httpSurfaceModule()] });
    const provider = t.app.get(LlmProvider);
    const ok = await chat('u1', 300);
    expect(ok.status).toBe(201);
    expect(ok.body).toEqual({ ok: true });
    expect(ok.headers['ratelimit-policy']).toBe('"user";q=1000;w=3600, "user.2";q=5000;w=86400');
    expect(ok.headers.ratelimit).toBe('"user";r=700;t=1800, "user.2";r=4700;t=84600');

    // 800 fits the daily cap, not the hourly one: the hourly budget refuses.
    const refused = await chat('u1', 800);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      statusCode: 429,
      error: 'Budget Exceeded',
      message: 'Budget "user" exceeded: the call needs 800 tokens, 700 of 1000 tokens remain.',
      scope: 'user',
      limit: 1000,
      used: 300,
    });
    expect(refused.headers['retry-after']).toBe('1800');
    expect(refused.headers.ratelimit).toBe('"user";r=700;t=1800, "user.2";r=4700;t=84600');
    expect(provider.calls).toBe(1);
    expect(provider.tokens).toBe(300);
  });

  it('refuses with the daily budget once the day is spent, hour after hour', async () => {
    t = await listen(adapter, { imports: [httpSurfaceModule()] });
    for (let hour = 0; hour < 5; hour++) {
      vi.setSystemTime(NOW + hour * 3_600_000);
      expect((await chat('u2', 900)).status).toBe(201);
    }
    vi.setSystemTime(NOW + 5 * 3_600_000); // 05:30: the hourly cap is fresh, the daily has 500 left
    const refused = await chat('u2', 600);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ scope: 'user', limit: 5000, used: 4500 });
    expect(refused.headers['retry-after']).toBe(String(84_600 - 5 * 3_600));
    expect(refused.headers.ratelimit).toBe('"user";r=1000;t=1800, "user.2";r=500;t=66600');
  });
});
