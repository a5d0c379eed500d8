import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type SampleApp, startSample } from '../../../sample/bootstrap.js';
import { SESSION_LIMIT } from '../../../sample/sample.config.js';

// Seconds from `at` to the next UTC midnight: the end of the sample's `window: 'day'`.
function untilMidnight(at: number): number {
  const d = new Date(at);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return Math.ceil((end - at) / 1000);
}

describe('the sample’s responses carry the RateLimit headers', () => {
  let sample: SampleApp | undefined;
  afterEach(async () => {
    await sample?.close();
    sample = undefined;
  });

  it('report the session budget after each chat turn, on /api/usage, and on the 429 (Retry-After: until the UTC day ends)', async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true });
    const server = sample.app.getHttpServer();
    const policy = `"session";q=${SESSION_LIMIT.tokens};w=86400`;
    // Sends a request; checks `t` (and Retry-After on a 429) lies between the seconds to midnight
    // at the response and at the request, and returns the response with its `r`.
    const send = async (req: () => request.Test) => {
      const before = Date.now();
      const res = await req();
      const after = Date.now();
      // One item per open budget: chats also carry the demo user's dollar budget.
      const match = /(?:^|, )"session";r=(\d+);t=(\d+)(?:,|$)/.exec(String(res.headers.ratelimit));
      expect(match, String(res.headers.ratelimit)).not.toBeNull();
      for (const seconds of [match![2], res.status === 429 ? res.headers['retry-after'] : '']) {
        if (seconds === '') continue;
        expect(Number(seconds)).toBeGreaterThanOrEqual(untilMidnight(after));
        expect(Number(seconds)).toBeLessThanOrEqual(untilMidnight(before));
      }
      expect(String(res.headers['ratelimit-policy']).split(', ')).toContain(policy);
      return { res, r: Number(match![1]) };
    };
    const chat = (message: string) => () =>
      request(server).post('/api/chat').set('x-session-id', 'hdr').send({ message });

    const first = await send(chat('Hello!'));
    expect(first.res.status).toBe(200);
    const spent = first.res.body.usage.total_tokens as number;
    expect(spent).toBeGreaterThan(0);
    expect(first.r).toBe(SESSION_LIMIT.tokens - spent);

    const usage = await send(() => request(server).get('/api/usage').set('x-session-id', 'hdr'));
    expect(usage.res.status).toBe(200);
    expect(usage.r).toBe(usage.res.body.remaining);
    expect(usage.res.body.remaining).toBe(SESSION_LIMIT.tokens - spent);

    const long = 'Please summarise the following contract clause in plain words. '.repeat(150);
    let refused: request.Response | undefined;
    let used = spent;
    for (let i = 0; i < 200 && !refused; i++) {
      const { res, r } = await send(chat(long));
      if (res.status === 429) {
        refused = res;
        expect(r).toBe(SESSION_LIMIT.tokens - used);
      } else {
        expect(res.status).toBe(200);
        used += res.body.usage.total_tokens as number;
        expect(r).toBe(SESSION_LIMIT.tokens - used);
      }
    }
    expect(refused?.body).toMatchObject({ statusCode: 429, scope: 'session', used });
    expect(refused?.headers['retry-after']).toMatch(/^\d+$/);
  });
});
