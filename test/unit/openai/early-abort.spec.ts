import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { budget, MESSAGES, MODEL, promptOf, useHarness } from './openai.fixture.js';

// The SDK awaits its options and builds the request before it calls fetch: an abort in that
// window (a "Stop" clicked, a client gone, in the same tick as the call) sends nothing.
describe('wrapOpenAI: calls aborted before the request left', () => {
  const h = useHarness({ replyTokens: 25 }, { serverPerTest: true });

  const cases = [
    {
      name: 'plain chat',
      send: (client: OpenAI, signal: AbortSignal) =>
        client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, max_completion_tokens: 2_000 },
          { signal },
        ),
    },
    {
      name: 'streamed chat of a reasoning model',
      send: (client: OpenAI, signal: AbortSignal) =>
        client.chat.completions.create(
          { model: 'o4-mini', messages: MESSAGES, max_completion_tokens: 2_000, stream: true },
          { signal },
        ),
    },
    {
      name: 'streamed Responses call of a reasoning model',
      send: (client: OpenAI, signal: AbortSignal) =>
        client.responses.create(
          { model: 'o4-mini', input: 'Say hello.', max_output_tokens: 2_000, stream: true },
          { signal },
        ),
    },
  ];

  for (const { name, send } of cases) {
    it(`releases a ${name} aborted in the same tick: nothing charged`, async () => {
      const b = budget(10_000);
      const client = h.client();
      const controller = new AbortController();
      const promise = h.within(b, () => send(client, controller.signal));
      controller.abort();
      await expect(promise).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
      expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
      expect(h.server.requests).toHaveLength(0);
    });

    it(`releases a ${name} whose signal was aborted before the call`, async () => {
      const b = budget(10_000);
      const client = h.client();
      const promise = h.within(b, () => send(client, AbortSignal.abort()));
      await expect(promise).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
      expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
      expect(h.server.requests).toHaveLength(0);
    });
  }

  it('leaves the whole budget to the next call after an early abort', async () => {
    const b = budget(2_100);
    const client = h.client();
    const controller = new AbortController();
    const first = h.within(b, () =>
      client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, max_completion_tokens: 2_000 },
        { signal: controller.signal },
      ),
    );
    controller.abort();
    await first.catch(() => {});
    await h.within(b, () =>
      client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        max_completion_tokens: 2_000,
      }),
    );
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 25, reserved: 0 });
  });

  // Fail closed: once fetch has the request, it may reach the provider, which bills it.
  it('charges what it reserved to a call aborted once it was handed to fetch', async () => {
    const b = budget(10_000);
    const controller = new AbortController();
    let fetched = 0;
    const slowFetch: typeof fetch = async (url, init) => {
      fetched++;
      controller.abort();
      return fetch(url, init);
    };
    const client = h.client({}, { fetch: slowFetch });
    const promise = h.within(b, () =>
      client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, max_completion_tokens: 100 },
        { signal: controller.signal },
      ),
    );
    await expect(promise).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(fetched).toBe(1);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 100, reserved: 0 });
  });

  it('watches a fetch set on the client after it was wrapped', async () => {
    const b = budget(10_000);
    const controller = new AbortController();
    const client = h.client();
    (client as unknown as { fetch: typeof fetch }).fetch = async (url, init) => {
      controller.abort();
      return fetch(url, init);
    };
    const promise = h.within(b, () =>
      client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, max_completion_tokens: 100, stream: true },
        { signal: controller.signal },
      ),
    );
    await expect(promise).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    // A stream aborted after it left is charged its estimate: the counted prompt.
    expect(await h.tokens(b)).toEqual({ used: promptOf(), reserved: 0 });
  });

  it('meters clients made by withOptions() the same way', async () => {
    const b = budget(10_000);
    const client = h.client().withOptions({ timeout: 5_000 });
    const controller = new AbortController();
    const promise = h.within(b, () =>
      client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, max_completion_tokens: 2_000 },
        { signal: controller.signal },
      ),
    );
    controller.abort();
    await expect(promise).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
    expect(h.server.requests).toHaveLength(0);
  });
});
