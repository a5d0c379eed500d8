import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { LlmProvider } from '../fixtures/fake-llm.fixture.js';
import {
  ADAPTERS,
  listenAtFixedTime,
  type ListeningApp,
  send,
} from '../fixtures/http-adapters.fixture.js';
import { readAll } from '../fixtures/http-client.fixture.js';
import type { TokencapModuleOptions } from '../../lib/nest/tokencap-options.interface.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import {
  deleteByPrefix,
  REDIS_URL,
  redisAvailable,
  uniquePrefix,
} from '../redis/support/redis-env.js';
import { httpSurfaceModule } from '../fixtures/http-surface.fixture.js';
import { SESSION_HEADER, USER_HEADER } from '../fixtures/scopes.fixture.js';

// Half past midnight: a 1h window resets in 1800 s, a 1d window in 84,600 s. Only Date is faked
// (the ledger reads Date.now), so sockets and timers run for real.
const NOW = Date.UTC(2026, 0, 1, 0, 30, 0);

const redis = await redisAvailable('the RateLimit headers on Redis');
const CASES = ADAPTERS.flatMap((adapter) =>
  (['memory', 'redis'] as const).map((store) => ({ adapter, store })),
).filter((c) => c.store === 'memory' || redis);

describe.each(CASES)('RateLimit headers on $adapter, $store store', ({ adapter, store }) => {
  const listen = listenAtFixedTime(NOW);
  let t: ListeningApp | undefined;
  const prefix = uniquePrefix('headers');
  let apps = 0;
  afterAll(async () => {
    if (store !== 'redis') return;
    const client = new Redis(REDIS_URL);
    await deleteByPrefix(client, prefix);
    client.disconnect();
  });
  // Usage is read back from the store for the headers: both stores must give the same figures.
  const storeOption = () =>
    store === 'redis'
      ? { store: new RedisLedgerStore({ url: REDIS_URL, prefix: `${prefix}${++apps}:` }) }
      : {};
  const surface = (options: TokencapModuleOptions = {}) =>
    httpSurfaceModule({ ...storeOption(), ...options });

  const chat = (session: string, tokens: number) =>
    send(`${t!.url}/h/chat`, 'POST', { tokens }, { [SESSION_HEADER]: session });

  it('report every open budget after the handler’s own charges, and Retry-After only for the windowed refusal', async () => {
    t = await listen(adapter, { imports: [surface()] });
    const provider = t.app.get(LlmProvider);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 6 }),
        async (asks) => {
          const session = `s${run++}`;
          let used = 0;
          for (const tokens of asks) {
            const calls = provider.calls;
            const res = await chat(session, tokens);
            expect(res.headers['ratelimit-policy']).toBe(
              '"session";q=1000;w=3600, "request";q=500',
            );
            // The reserve is all or nothing, and budgets are checked in declaration order.
            const refusedBy =
              used + tokens > 1000 ? 'session' : tokens > 500 ? 'request' : undefined;
            if (refusedBy === undefined) {
              used += tokens;
              expect(res.status).toBe(201);
              expect(res.headers.ratelimit).toBe(
                `"session";r=${1000 - used};t=1800, "request";r=${500 - tokens}`,
              );
              expect(res.headers['retry-after']).toBeUndefined();
              expect(provider.calls).toBe(calls + 1);
              continue;
            }
            expect(res.status).toBe(429);
            expect(res.body).toMatchObject({ statusCode: 429, scope: refusedBy });
            expect(res.headers.ratelimit).toBe(
              `"session";r=${1000 - used};t=1800, "request";r=500`,
            );
            // Waiting helps a windowed budget; the request budget never resets.
            expect(res.headers['retry-after']).toBe(refusedBy === 'session' ? '1800' : undefined);
            expect(provider.calls).toBe(calls);
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('a 429 has the exact JSON body, and a lifetime budget sends neither t nor Retry-After', async () => {
    t = await listen(adapter, { imports: [surface()] });
    const lifetime = (tokens: number) =>
      send(`${t!.url}/h/lifetime`, 'POST', { tokens }, { [SESSION_HEADER]: 'life' });
    const ok = await lifetime(900);
    expect(ok.status).toBe(201);
    expect(ok.headers['ratelimit-policy']).toBe('"session";q=1000');
    expect(ok.headers.ratelimit).toBe('"session";r=100');

    const refused = await lifetime(101);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/json/);
    expect(refused.body).toEqual({
      statusCode: 429,
      error: 'Budget Exceeded',
      message: 'Budget "session" exceeded: the call needs 101 tokens, 100 of 1000 tokens remain.',
      scope: 'session',
      limit: 1000,
      used: 900,
    });
    expect(refused.headers.ratelimit).toBe('"session";r=100');
    expect(refused.headers['retry-after']).toBeUndefined();
  });

  it('a dollar budget is reported in micro-dollars, over its one-day window', async () => {
    t = await listen(adapter, { imports: [surface()] });
    const res = await send(`${t.url}/h/usd`, 'POST', { usd: 0.25 }, { [USER_HEADER]: 'u1' });
    expect(res.status).toBe(201);
    expect(res.headers['ratelimit-policy']).toBe('"user";q=2000000;w=86400');
    expect(res.headers.ratelimit).toBe('"user";r=1750000;t=84600');
  });

  it('an SSE response carries the policy, and (synchronous store) what is left at its first event', async () => {
    t = await listen(adapter, { imports: [surface()] });
    const res = await readAll(`${t.url}/h/events`, { [SESSION_HEADER]: 'sse' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['ratelimit-policy']).toBe('"session";q=1000;w=3600');
    if (store === 'memory') expect(res.headers.ratelimit).toBe('"session";r=900;t=1800');
    // Nest sends SSE headers one macrotask after the stream starts: the read of an asynchronous
    // store may come too late for RateLimit, never with a wrong figure.
    else expect([undefined, '"session";r=900;t=1800']).toContain(res.headers.ratelimit);
    expect(res.body).toBe('\nid: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n');
    expect(t.app.get(LlmProvider).tokens).toBe(300);
    // What the stream spent shows on the next response.
    const next = await chat('sse', 1);
    expect(next.status).toBe(201);
    expect(next.headers.ratelimit).toBe('"session";r=699;t=1800, "request";r=499');
  });

  it('a StreamableFile and an Observable carry them too, set before the stream’s first byte', async () => {
    t = await listen(adapter, { imports: [surface()] });
    const file = await readAll(`${t.url}/h/file`, { [SESSION_HEADER]: 'file' });
    expect(file.status).toBe(200);
    expect(file.body).toBe('xy');
    // The 200 tokens spent while the file streamed came after the headers were sent.
    expect(file.headers.ratelimit).toBe('"session";r=900;t=1800');
    expect(t.app.get(LlmProvider).tokens).toBe(300);

    const obs = await send(`${t.url}/h/observable`, 'GET', undefined, { [SESSION_HEADER]: 'file' });
    expect(obs.status).toBe(200);
    expect(obs.body).toEqual({ ok: true });
    expect(obs.headers.ratelimit).toBe('"session";r=650;t=1800');
  });

  // With Redis the refusal comes after Nest has sent the SSE headers (see the test above), so it
  // reaches the client as an SSE error event: a limit of Nest's SSE, documented in nest.md.
  it.skipIf(store === 'redis')(
    'an SSE request refused before its first event is a 429 with Retry-After',
    async () => {
      t = await listen(adapter, { imports: [surface()] });
      expect((await chat('spent', 500)).status).toBe(201);
      expect((await chat('spent', 450)).status).toBe(201);
      const res = await readAll(`${t.url}/h/events`, { [SESSION_HEADER]: 'spent' });
      expect(res.status).toBe(429);
      expect(JSON.parse(res.body)).toMatchObject({ statusCode: 429, scope: 'session', used: 950 });
      expect(res.headers.ratelimit).toBe('"session";r=50;t=1800');
      expect(res.headers['retry-after']).toBe('1800');
    },
  );

  it('headers: false sends none of them, and the 429 body is unchanged', async () => {
    t = await listen(adapter, { imports: [surface({ headers: false })] });
    const ok = await chat('quiet', 500);
    expect(ok.status).toBe(201);
    const refused = await chat('quiet', 501);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ statusCode: 429, scope: 'session', used: 500 });
    for (const res of [ok, refused]) {
      expect(res.headers['ratelimit-policy']).toBeUndefined();
      expect(res.headers.ratelimit).toBeUndefined();
      expect(res.headers['retry-after']).toBeUndefined();
    }
  });
});
