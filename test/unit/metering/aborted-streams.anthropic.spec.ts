import type Anthropic from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import {
  budget,
  fakeInput,
  MESSAGES,
  MODEL,
  usageEvents,
  useHarness,
} from '../anthropic/anthropic-wrapper.fixture.js';

// Anthropic bills output the caller never saw (it keeps generating after an abort), so a stream
// left early is charged its input and all the output it was granted: never 0, never held.

const MAX_TOKENS = 300;
const headers = { [REPLY_TOKENS_HEADER]: '200' };
const request = { model: MODEL, max_tokens: MAX_TOKENS, messages: MESSAGES, stream: true } as const;
const estimate = estimateMessagesInput({ model: MODEL, messages: MESSAGES }, MODEL).inputTokens;
type Exit = 'break' | 'controller' | 'signal' | 'pending-iterator' | 'never-iterated';

async function leave(client: Anthropic, exit: Exit, events: number): Promise<void> {
  const signal = new AbortController();
  const stream = await client.messages.create(request, { headers, signal: signal.signal });
  if (exit === 'never-iterated') {
    stream.controller.abort();
    return;
  }
  const iterator = stream[Symbol.asyncIterator]();
  for (let i = 0; i < events; i++) await iterator.next();
  if (exit === 'break') await iterator.return?.();
  else if (exit === 'pending-iterator') stream.controller.abort();
  else {
    if (exit === 'controller') stream.controller.abort();
    else signal.abort();
    await iterator.next().catch(() => undefined);
  }
}

describe('Anthropic streams the consumer leaves early', () => {
  const h = useHarness({ replyTokens: 200 }, { serverPerTest: true });

  it('are charged their input and grant, and hold nothing, whatever the exit', async () => {
    const exits: Exit[] = ['break', 'controller', 'signal', 'pending-iterator', 'never-iterated'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...exits),
        fc.integer({ min: 0, max: 20 }),
        async (exit, n) => {
          const b = budget(100_000);
          const client = h.client();
          await h.within(b, () => leave(client, exit, exit === 'never-iterated' ? 0 : n));
          // message_start (the first event) carries the exact input; before it arrived, the
          // estimate. It is metered as it arrives, so a caller who read none may have it too.
          const inputs =
            exit !== 'never-iterated' && n > 0 ? [fakeInput()] : [estimate, fakeInput()];
          const { used, reserved } = await h.used(b);
          expect(reserved).toBe(0);
          expect(inputs.map((input) => input + MAX_TOKENS)).toContain(used);
          expect(usageEvents(h.events, b)).toHaveLength(1);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a request the caller aborts before any response is charged its input and grant', async () => {
    const b = budget(100_000);
    const client = h.client();
    h.server.fail({ kind: 'delay', ms: 10_000 });
    const signal = new AbortController();
    const started = h.within(b, () => client.messages.create(request, { signal: signal.signal }));
    await vi.waitFor(() => expect(h.server.requests).toHaveLength(1));
    signal.abort();
    await expect(started).rejects.toThrow(/abort/i);
    expect(await h.used(b)).toEqual({ used: estimate + MAX_TOKENS, reserved: 0 });
  });
});
