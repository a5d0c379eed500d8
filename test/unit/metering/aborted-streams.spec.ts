import fc from 'fast-check';
import type OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import { budget, MESSAGES, MODEL, usageEvents, useHarness } from '../openai/openai.fixture.js';

// However a consumer leaves a stream (break, the stream's controller, its own AbortController, an
// iterator it stops pulling, or an abort before any response), the call is settled at once with
// the prompt and the output seen so far: never 0, never left holding its reservation.

const REPLY = 60;
const headers = { [REPLY_TOKENS_HEADER]: String(REPLY) };
type Api = 'chat' | 'responses';
type Exit = 'break' | 'controller' | 'signal' | 'pending-iterator' | 'never-iterated';

/** Opens a stream of `api` and leaves it after `seen` visible text deltas, by `exit`. */
async function leave(client: OpenAI, api: Api, exit: Exit, seen: number): Promise<void> {
  const signal = new AbortController();
  const options = { headers, signal: signal.signal };
  const stream =
    api === 'chat'
      ? await client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, stream: true },
          options,
        )
      : await client.responses.create({ model: MODEL, input: 'Say hello.', stream: true }, options);
  const isText = (item: unknown) =>
    api === 'chat'
      ? Boolean((item as OpenAI.ChatCompletionChunk).choices[0]?.delta.content)
      : (item as { type: string }).type === 'response.output_text.delta';
  if (exit === 'never-iterated') {
    stream.controller.abort();
    return;
  }
  const iterator = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  let n = 0;
  while (n < seen) {
    const next = await iterator.next();
    if (next.done) throw new Error('stream ended early');
    if (isText(next.value)) n++;
  }
  if (exit === 'break') await iterator.return?.();
  else if (exit === 'pending-iterator') stream.controller.abort();
  else {
    if (exit === 'controller') stream.controller.abort();
    else signal.abort();
    await iterator.next().catch(() => undefined);
  }
}

describe('streams the consumer leaves early (both OpenAI APIs)', () => {
  const h = useHarness({ replyTokens: REPLY }, { serverPerTest: true });

  /** Input tokens the fake bills for the request of `api`, read from a completed call. */
  async function promptOf(api: Api): Promise<number> {
    const raw = h.raw();
    if (api === 'chat') {
      const done = await raw.chat.completions.create({ model: MODEL, messages: MESSAGES });
      return done.usage!.prompt_tokens;
    }
    const done = await raw.responses.create({ model: MODEL, input: 'Say hello.' });
    return done.usage!.input_tokens;
  }

  it('are charged prompt + the output seen, and hold nothing, whatever the exit', async () => {
    const prompts = { chat: await promptOf('chat'), responses: await promptOf('responses') };
    const exits: Exit[] = ['break', 'controller', 'signal', 'pending-iterator', 'never-iterated'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Api>('chat', 'responses'),
        fc.constantFrom(...exits),
        fc.integer({ min: 0, max: REPLY - 5 }),
        async (api, exit, n) => {
          const seen = exit === 'never-iterated' ? 0 : n;
          const b = budget(100_000);
          const client = h.client();
          const before = usageEvents(h.events, b).length;
          await h.within(b, () => leave(client, api, exit, seen));
          expect(await h.tokens(b)).toEqual({ used: prompts[api] + seen, reserved: 0 });
          const events = usageEvents(h.events, b);
          expect(events).toHaveLength(before + 1);
          expect(events.at(-1)!.details).toMatchObject({
            inputTokens: prompts[api],
            outputTokens: seen,
            source: 'estimate',
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it.each(['chat', 'responses'] as const)(
    '%s: a request the caller aborts before any response is charged its prompt, never 0',
    async (api) => {
      const prompt = await promptOf(api);
      const sent = h.server.requests.length;
      const b = budget(100_000);
      const client = h.client();
      h.server.fail({ kind: 'delay', ms: 10_000 });
      const signal = new AbortController();
      const started = h.within(b, () =>
        api === 'chat'
          ? client.chat.completions.create(
              { model: MODEL, messages: MESSAGES, stream: true },
              { signal: signal.signal },
            )
          : client.responses.create(
              { model: MODEL, input: 'Say hello.', stream: true },
              { signal: signal.signal },
            ),
      );
      await vi.waitFor(() => expect(h.server.requests).toHaveLength(sent + 1));
      signal.abort();
      await expect(started).rejects.toThrow(/abort/i);
      expect(await h.tokens(b)).toEqual({ used: prompt, reserved: 0 });
    },
  );

  it('a signal already aborted when the call is made sends nothing and is released', async () => {
    const b = budget(100_000);
    const client = h.client();
    const promise = h.within(b, () =>
      client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, stream: true },
        { signal: AbortSignal.abort() },
      ),
    );
    await expect(promise).rejects.toThrow(/abort/i);
    expect(h.server.requests).toHaveLength(0);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
  });
});
