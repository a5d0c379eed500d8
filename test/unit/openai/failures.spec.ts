import { createServer, type AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { budget, MESSAGES, MODEL, promptOf, usageEvents, useHarness } from './openai.fixture.js';

describe('wrapOpenAI: failed calls', () => {
  const h = useHarness({ replyTokens: 25 });

  it('releases the reservation on a provider 500', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'error', status: 500, message: 'boom' });
    const error = await h
      .within(b, () => client.chat.completions.create({ model: MODEL, messages: MESSAGES }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(0);
    expect(usageEvents(h.events, b)).toEqual([]);
  });

  it('releases the reservation on a 429 of a stream', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'error', status: 429 });
    const error = await h
      .within(b, () =>
        client.chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('charges a timed-out call what it reserved: the provider may have run it to its end', async () => {
    const b = budget(10_000);
    const client = h.client({}, { timeout: 50 });
    h.server.fail({ kind: 'delay', ms: 1_000 });
    const error = await h
      .within(b, () =>
        client.chat.completions.create({
          model: MODEL,
          messages: MESSAGES,
          max_completion_tokens: 100,
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 100, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details?.source).toBe('estimate');
  });

  it('charges what it reserved when the connection drops before a response (it may have run)', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'cut-stream', afterChunks: 0 });
    const error = await h
      .within(b, () =>
        client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 50 }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(await h.tokens(b)).toEqual({ used: promptOf(MESSAGES) + 50, reserved: 0 });
  });

  it('releases the reservation when the connection is refused (nothing was sent)', async () => {
    const b = budget(10_000);
    // A port nothing listens on: the connection is refused.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const client = new OpenAI({
      apiKey: 'test',
      baseURL: `http://127.0.0.1:${port}/v1`,
      maxRetries: 0,
    });
    const error = await h
      .within(b, () =>
        wrapOpenAI(client).chat.completions.create({ model: MODEL, messages: MESSAGES }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('charges its own count when usage is missing', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'omit-usage' });
    const completion = await h.within(b, () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
    );
    expect(completion.usage).toBeUndefined();
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 25, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(promptOf() + 25);
    expect(usageEvents(h.events, b)[0].details).toMatchObject({
      source: 'estimate',
      outputTokens: 25,
    });
  });

  it('charges its own count when usage is malformed, never zero', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'malformed-usage' });
    await h.within(b, () => client.chat.completions.create({ model: MODEL, messages: MESSAGES }));
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 25, reserved: 0 });
  });

  it('commits what the provider reports, even above what was reserved', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'over-report-usage', factor: 2 });
    await h.within(b, () =>
      client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        max_completion_tokens: 25,
      }),
    );
    expect(await h.tokens(b)).toEqual({ used: 2 * (promptOf() + 25), reserved: 0 });
  });
});

// On its own server: a request the caller aborts mid-flight can leave Node's keep-alive pool with a
// socket that makes undici send the next request to the same origin twice, which would confuse
// the fault schedule and the tally of the tests above.
describe('wrapOpenAI: aborted calls', () => {
  const h = useHarness();

  it('charges what it reserved to a plain call the caller aborts before a response', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'delay', ms: 1_000 });
    const controller = new AbortController();
    const promise = h.within(b, () =>
      client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, max_completion_tokens: 100 },
        { signal: controller.signal },
      ),
    );
    setTimeout(() => controller.abort(), 20);
    await expect(promise).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    // The provider runs a non-streamed call to its end even when the client has gone.
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 100, reserved: 0 });
  });
});
