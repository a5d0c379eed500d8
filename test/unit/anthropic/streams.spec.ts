import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { countClaudeTokens } from '../../../lib/testing/anthropic/claude-token.counter.js';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import {
  billedTokens,
  budget,
  drain,
  fakeInput,
  MESSAGES,
  MODEL,
  usageEvents,
  useHarness,
} from './anthropic-wrapper.fixture.js';

type Event = Anthropic.MessageStreamEvent;
const long = { headers: { [REPLY_TOKENS_HEADER]: '2000' } };
const estimate = estimateMessagesInput({ model: MODEL, messages: MESSAGES }, MODEL).inputTokens;

/** A fetch that raises max_tokens, as a server that ignores the cap would behave. */
const ignoringCaps: typeof fetch = (input, init) => {
  const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
  body.max_tokens = 4000;
  return fetch(input, { ...init, body: JSON.stringify(body) });
};

const text = (events: readonly Event[]) =>
  events
    .map((e) =>
      e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : '',
    )
    .join('');

describe('wrapAnthropic: streams', () => {
  const h = useHarness({ replyTokens: 40 }, { serverPerTest: true });

  it('commits the input of message_start and the output of message_delta, exactly', async () => {
    const b = budget(10_000);
    const client = h.client();
    const events = await h.within(b, async () =>
      drain(
        await client.messages.create({
          model: MODEL,
          max_tokens: 100,
          messages: MESSAGES,
          stream: true,
        }),
      ),
    );
    expect(events[0].type).toBe('message_start');
    expect(events.at(-1)?.type).toBe('message_stop');
    expect(await h.used(b)).toEqual({ used: fakeInput() + 40, reserved: 0 });
    expect(billedTokens(h.server)).toBe(fakeInput() + 40);
    const [usage] = usageEvents(h.events, b);
    expect(usage.details).toMatchObject({
      inputTokens: fakeInput(),
      outputTokens: 40,
      source: 'provider',
    });
  });

  it('messages.stream() keeps its events and finalMessage(), charged once', async () => {
    const b = budget(10_000);
    const client = h.client();
    let streamed = '';
    const message = await h.within(b, () => {
      const stream = client.messages.stream({ model: MODEL, max_tokens: 100, messages: MESSAGES });
      stream.on('text', (delta) => (streamed += delta));
      return stream.finalMessage();
    });
    expect(message.usage.output_tokens).toBe(40);
    expect(streamed).toBe((message.content[0] as Anthropic.TextBlock).text);
    expect(await h.used(b)).toEqual({ used: fakeInput() + 40, reserved: 0 });
    expect(usageEvents(h.events, b)).toHaveLength(1);
  });

  it('is cut inside the budget: max_tokens clamped, the loop ends with BudgetExceededError, the bill within the limit', async () => {
    const b = budget(300);
    const client = h.client();
    const seen: Event[] = [];
    const error = await h
      .within(b, async () => {
        const stream = await client.messages.create(
          { model: MODEL, max_tokens: 4096, messages: MESSAGES, stream: true },
          long,
        );
        for await (const event of stream) seen.push(event);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    const granted = 300 - estimate;
    expect(h.server.requests[0].body).toMatchObject({ max_tokens: granted });
    // Everything generated reached the caller before the error, and was paid for.
    const delta = seen.find((e) => e.type === 'message_delta');
    expect(delta).toMatchObject({
      delta: { stop_reason: 'max_tokens' },
      usage: { output_tokens: granted },
    });
    expect(billedTokens(h.server)).toBe(fakeInput() + granted);
    expect(billedTokens(h.server)).toBeLessThanOrEqual(300);
    expect(await h.used(b)).toEqual({ used: fakeInput() + granted, reserved: 0 });
    const types = h.events.map((e) => e.type).filter((t) => t === 'usage' || t === 'refused');
    expect(types).toEqual(['usage', 'refused']);
  });

  it('cuts a stream whose server ignores the cap, and charges at least what was granted', async () => {
    const b = budget(300);
    const client = h.client({}, { fetch: ignoringCaps });
    const seen: Event[] = [];
    const error = await h
      .within(b, async () => {
        const stream = await client.messages.create(
          { model: MODEL, max_tokens: 4096, messages: MESSAGES, stream: true },
          long,
        );
        for await (const event of stream) seen.push(event);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(seen.some((e) => e.type === 'message_delta')).toBe(false);
    await h.server.settled();
    const { used, reserved } = await h.used(b);
    expect(reserved).toBe(0);
    // Input from message_start (exact); output: at least all that was granted (the usage never
    // came), more when the text seen (counted low) already went past it.
    expect(used).toBeGreaterThanOrEqual(fakeInput() + (300 - estimate));
    expect(used).toBeLessThanOrEqual(fakeInput() + h.server.tally.outputTokens);
    // The low count cuts late by design (never a compliant answer): the server billed at most 1/0.7 of the grant.
    expect(h.server.tally.outputTokens).toBeLessThanOrEqual(Math.ceil((300 - estimate) / 0.7) + 5);
    expect(h.server.tally.outputTokens).toBeGreaterThan(300 - estimate);
  });

  it('never cuts an answer that stays within its own max_tokens', async () => {
    const b = budget(100_000);
    const client = h.client();
    for (const maxTokens of [1, 7, 50, 333, 1000]) {
      const events = await h.within(b, async () =>
        drain(
          await client.messages.create(
            { model: MODEL, max_tokens: maxTokens, messages: MESSAGES, stream: true },
            long,
          ),
        ),
      );
      expect(events.find((e) => e.type === 'message_delta')).toMatchObject({
        usage: { output_tokens: maxTokens },
      });
    }
  });

  it('charges a stream left early its input and all the output it was granted, never 0', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const stream = await client.messages.create(
        { model: MODEL, max_tokens: 500, messages: MESSAGES, stream: true },
        long,
      );
      let n = 0;
      for await (const _ of stream) if (++n === 5) break;
    });
    await h.server.settled();
    expect(await h.used(b)).toEqual({ used: fakeInput() + 500, reserved: 0 });
    expect(h.server.tally.inputTokens + h.server.tally.outputTokens).toBeLessThanOrEqual(
      fakeInput() + 500,
    );
    const [usage] = usageEvents(h.events, b);
    expect(usage.details).toMatchObject({
      inputTokens: fakeInput(),
      outputTokens: 500,
      source: 'estimate',
    });
  });

  it('messages.stream() aborted by the caller is charged the same', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const stream = client.messages.stream(
        { model: MODEL, max_tokens: 500, messages: MESSAGES },
        long,
      );
      let n = 0;
      stream.on('streamEvent', () => {
        if (++n === 5) stream.abort();
      });
      await stream.done().catch(() => undefined);
    });
    await h.server.settled();
    await new Promise((r) => setTimeout(r, 20));
    expect(await h.used(b)).toEqual({ used: fakeInput() + 500, reserved: 0 });
  });

  it('a cut connection is charged its input and grant; a stream error event too', async () => {
    for (const fault of [
      { kind: 'cut-stream', afterChunks: 3 },
      { kind: 'stream-error', afterChunks: 3 },
    ] as const) {
      const b = budget(10_000);
      const client = h.client();
      h.server.fail(fault);
      const error = await h
        .within(b, async () =>
          drain(
            await client.messages.create({
              model: MODEL,
              max_tokens: 200,
              messages: MESSAGES,
              stream: true,
            }),
          ),
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(BudgetExceededError);
      await h.server.settled();
      expect(await h.used(b)).toEqual({ used: fakeInput() + 200, reserved: 0 });
    }
  });

  it('a stream without usage is charged the estimated input and the grant', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'omit-usage' });
    await h.within(b, async () =>
      drain(
        await client.messages.create({
          model: MODEL,
          max_tokens: 200,
          messages: MESSAGES,
          stream: true,
        }),
      ),
    );
    expect(await h.used(b)).toEqual({ used: estimate + 200, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details?.source).toBe('estimate');
  });

  it("messages.stream() reports a refusal as the SDK's error whose cause is BudgetExceededError", async () => {
    const b = budget(5);
    const client = h.client();
    const error = await h
      .within(b, () =>
        client.messages
          .stream({ model: MODEL, max_tokens: 100, messages: MESSAGES })
          .finalMessage(),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.AnthropicError);
    expect((error as Error).cause).toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toEqual([]);
  });
});

describe('wrapAnthropic: streams against a provider that keeps generating after an abort', () => {
  const h = useHarness({ replyTokens: 400, abortBilling: 'full' }, { serverPerTest: true });

  it('an aborted stream is never charged less than the provider billed', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const stream = await client.messages.create({
        model: MODEL,
        max_tokens: 300,
        messages: MESSAGES,
        stream: true,
      });
      for await (const event of stream) if (event.type === 'content_block_delta') break;
    });
    await h.server.settled();
    const { used } = await h.used(b);
    expect(billedTokens(h.server)).toBe(fakeInput() + 300);
    expect(used).toBeGreaterThanOrEqual(billedTokens(h.server));
    expect(text([])).toBe('');
  });
});

// Runs of one symbol (markdown rules, ASCII tables) that every BPE merges into few tokens (the fake
// counts 8 symbols a token) were counted by a fraction of the estimator at up to 30× that, cutting
// answers far inside their own max_tokens.
const REPORT = Array.from(
  { length: 20 },
  () => `${'='.repeat(60)}\nREPORT\n${'='.repeat(60)}`,
).join('\n');
for (const [name, reply] of [
  ['a report with = rules', REPORT],
  ['a row of 4,000 dashes', '-'.repeat(4000)],
] as const) {
  describe(`wrapAnthropic: a stream of ${name}`, () => {
    const h = useHarness({ reply }, { serverPerTest: true });
    const replyTokens = countClaudeTokens(reply, 'claude-3');
    // The answer uses 85% of its cap; the budget is almost untouched.
    const params = { model: MODEL, max_tokens: Math.ceil(replyTokens / 0.85), messages: MESSAGES };

    it('is never cut (create): the whole answer, charged exactly what was billed', async () => {
      const b = budget(1_000_000);
      const client = h.client();
      const events = await h.within(b, async () =>
        drain(await client.messages.create({ ...params, stream: true })),
      );
      expect(text(events)).toBe(reply);
      expect(h.server.tally.outputTokens).toBe(replyTokens);
      expect(await h.used(b)).toEqual({ used: billedTokens(h.server), reserved: 0 });
      expect(h.events.some((e) => e.type === 'refused')).toBe(false);
    });

    it('is never cut (messages.stream())', async () => {
      const b = budget(1_000_000);
      const client = h.client();
      const message = await h.within(b, () => client.messages.stream(params).finalMessage());
      expect((message.content[0] as Anthropic.TextBlock).text).toBe(reply);
      expect(message.stop_reason).toBe('end_turn');
      expect(await h.used(b)).toEqual({ used: billedTokens(h.server), reserved: 0 });
    });
  });
}
