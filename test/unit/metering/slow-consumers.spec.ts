import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { budget, MESSAGES, MODEL, useHarness } from '../openai/openai.fixture.js';

// The provider generates at its own pace and bills every token it wrote; a caller who reads slower
// than that and then leaves must be charged everything that had reached the process, not only what
// it pulled. The fake writes 400 one-token chunks ~2 ms apart and bills each chunk it wrote before
// it saw the connection close.

/**
 * Tokens a call's provider may write (and bill) after the process closed the connection, before
 * it sees the close: here the fake's timers that fire first, ~1 token (measured: 0-2).
 */
const IN_FLIGHT = 3;

type Api = 'chat' | 'responses';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function open(client: OpenAI, api: Api, maxTokens?: number) {
  return api === 'chat'
    ? client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        stream: true,
        ...(maxTokens === undefined ? {} : { max_completion_tokens: maxTokens }),
      })
    : client.responses.create({ model: MODEL, input: 'Say hello.', stream: true });
}

/** Reads `chunks` items, sleeping `ms` after each, then breaks. */
async function slowConsumer(stream: AsyncIterable<unknown>, chunks: number, ms: number) {
  let read = 0;
  for await (const _ of stream) {
    await sleep(ms);
    if (++read >= chunks) break;
  }
}

describe('streams read slower than they arrive (both OpenAI APIs)', () => {
  const h = useHarness({ replyTokens: 400, chunkDelayMs: 2 }, { serverPerTest: true });

  /** What the fake billed, once it has seen the client leave. */
  async function billed(): Promise<number> {
    await h.server.settled();
    return h.server.tally.totalTokens;
  }

  it.each(['chat', 'responses'] as const)(
    '%s: a consumer that sleeps 150 ms a chunk and breaks after 2 is charged all that arrived',
    async (api) => {
      const b = budget(100_000);
      const client = h.client();
      await h.within(b, async () => slowConsumer(await open(client, api), 2, 150));
      const provider = await billed();
      const { used, reserved } = await h.tokens(b);
      expect(reserved).toBe(0);
      expect(provider - used).toBeLessThanOrEqual(IN_FLIGHT);
      expect(used).toBeLessThanOrEqual(provider);
      // The old metering charged the 1-2 chunks read; far more had arrived.
      expect(h.server.tally.completionTokens).toBeGreaterThan(4 * IN_FLIGHT);
      expect(h.server.tally.completionTokens).toBeLessThan(400);
    },
  );

  it.each(['chat', 'responses'] as const)(
    '%s: a stream never iterated and aborted after 300 ms is charged all that arrived',
    async (api) => {
      const b = budget(100_000);
      const client = h.client();
      await h.within(b, async () => {
        const stream = await open(client, api);
        await sleep(300);
        stream.controller.abort();
      });
      const provider = await billed();
      const { used, reserved } = await h.tokens(b);
      expect(reserved).toBe(0);
      expect(provider - used).toBeLessThanOrEqual(IN_FLIGHT);
      expect(used).toBeLessThanOrEqual(provider);
      // The old metering charged the 1-2 chunks read; far more had arrived.
      expect(h.server.tally.completionTokens).toBeGreaterThan(4 * IN_FLIGHT);
      expect(h.server.tally.completionTokens).toBeLessThan(400);
    },
  );

  it('a 1,000-token hard-stop budget holds what the provider bills for 20 slow consumers', async () => {
    // The budget knows each call's output as it arrives, so the next call is clamped to what is
    // really left: the provider bills at most the limit plus, per call, what it wrote after the
    // call left (before: 4,854 billed, 260 charged).
    const b = budget(1_000, { maxReservation: 300 });
    const client = h.client();
    let sent = 0;
    let refused = false;
    await h.within(b, async () => {
      for (let k = 0; k < 20; k++) {
        try {
          const stream = await open(client, 'chat');
          sent++;
          await slowConsumer(stream, 2, 150);
        } catch (error) {
          expect(error).toBeInstanceOf(BudgetExceededError);
          refused = true;
          break;
        }
      }
    });
    const provider = await billed();
    const { used, reserved } = await h.tokens(b);
    expect(reserved).toBe(0);
    expect(refused).toBe(true);
    expect(sent).toBeLessThan(20);
    expect(used).toBeLessThanOrEqual(1_000);
    expect(provider).toBeLessThanOrEqual(1_000 + sent * IN_FLIGHT);
  });
});
