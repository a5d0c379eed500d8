import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { budget, MESSAGES, MODEL, useHarness } from './anthropic-wrapper.fixture.js';

const input = estimateMessagesInput({ model: MODEL, messages: MESSAGES }, MODEL).inputTokens;

// The SDK awaits its options and builds the request before it calls fetch: an abort in that
// window (a "Stop" clicked, a client gone, in the same tick as the call) sends nothing.
describe('wrapAnthropic: calls aborted before the request left', () => {
  const h = useHarness({ replyTokens: 30 }, { serverPerTest: true });

  for (const stream of [false, true]) {
    it(`releases a call aborted in the same tick: nothing charged (stream: ${stream})`, async () => {
      const b = budget(10_000);
      const client = h.client();
      const controller = new AbortController();
      const promise = h.within(b, () =>
        client.messages.create(
          { model: MODEL, max_tokens: 2_000, messages: MESSAGES, stream },
          { signal: controller.signal },
        ),
      );
      controller.abort();
      await expect(promise).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
      expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
      expect(h.server.requests).toHaveLength(0);
    });

    it(`charges a call aborted once it was handed to fetch, fail closed (stream: ${stream})`, async () => {
      const b = budget(10_000);
      const controller = new AbortController();
      const client = h.client(
        {},
        {
          fetch: async (url, init) => {
            controller.abort();
            return fetch(url, init);
          },
        },
      );
      const promise = h.within(b, () =>
        client.messages.create(
          { model: MODEL, max_tokens: 100, messages: MESSAGES, stream },
          { signal: controller.signal },
        ),
      );
      await expect(promise).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
      // Both what was reserved: a stream's unreported output is charged as granted.
      expect(await h.used(b)).toEqual({ used: input + 100, reserved: 0 });
    });
  }
});
