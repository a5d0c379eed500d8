import { betaTool } from '@anthropic-ai/sdk/helpers/beta/json-schema';
import { describe, expect, it, vi } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import {
  billedTokens,
  budget,
  MODEL,
  usageEvents,
  useHarness,
} from './anthropic-wrapper.fixture.js';

// The SDK's tool runner builds each request on the last one's response props
// (`APIPromise._responseProps()`): the metered promise gives them too, metered.

describe('wrapAnthropic: beta.messages.toolRunner()', () => {
  const h = useHarness({ replyTokens: 20 });
  const weather = betaTool({
    name: 'get_weather',
    description: 'The weather in a city.',
    inputSchema: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
    run: () => '18°C, clear',
  });

  for (const stream of [false, true]) {
    it(`runs inside a budget, each request charged what the fake billed (stream: ${stream})`, async () => {
      const b = budget(100_000);
      const client = h.client();
      const messages = await h.within(b, async () => {
        const runner = client.beta.messages.toolRunner({
          model: MODEL,
          max_tokens: 200,
          tools: [weather],
          messages: [{ role: 'user', content: 'Weather in Paris?' }],
          stream,
          // The fake keeps no server-side threads: every turn sends the whole history.
          thread: false,
        });
        const out: unknown[] = [];
        for await (const message of runner) {
          out.push(
            stream
              ? await (message as { finalMessage(): Promise<unknown> }).finalMessage()
              : message,
          );
        }
        return out;
      });
      await h.server.settled();
      // A tool call, then the answer to its result.
      expect(messages).toHaveLength(2);
      expect(h.server.requests.filter((r) => r.path.startsWith('/v1/messages'))).toHaveLength(2);
      await vi.waitFor(async () =>
        expect(await h.used(b)).toEqual({ used: billedTokens(h.server), reserved: 0 }),
      );
      expect(usageEvents(h.events, b)).toHaveLength(2);
    });
  }

  it('a budget too small for it refuses before the first request is sent', async () => {
    const b = budget(50);
    const client = h.client();
    const run = h.within(b, async () => {
      const runner = client.beta.messages.toolRunner({
        model: MODEL,
        max_tokens: 200,
        tools: [weather],
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        thread: false,
      });
      for await (const _ of runner) void _;
    });
    await expect(run).rejects.toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toEqual([]);
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
  });
});
