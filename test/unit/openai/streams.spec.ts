import type OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import {
  budget,
  chatText,
  drain,
  MESSAGES,
  MODEL,
  promptOf,
  usageEvents,
  useHarness,
} from './openai.fixture.js';
import { collectGarbage } from '../../support/gc.js';

const long = { headers: { [REPLY_TOKENS_HEADER]: '2000' } };

/** A fetch that drops output caps, as a server that ignores them would. */
const ignoringCaps: typeof fetch = (input, init) => {
  const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
  delete body.max_completion_tokens;
  delete body.max_tokens;
  return fetch(input, { ...init, body: JSON.stringify(body) });
};

describe('wrapOpenAI: chat streams', () => {
  const h = useHarness({ replyTokens: 40 });

  it('meters a stream from its usage chunk and hides that chunk from a caller who did not ask', async () => {
    const b = budget(10_000);
    const client = h.client();
    const chunks = await h.within(b, async () =>
      drain(
        await client.chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true }),
      ),
    );
    expect(chatText(chunks)).toBe(' hello'.repeat(40));
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(h.server.requests[0].body).toMatchObject({ stream_options: { include_usage: true } });
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 40, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details?.source).toBe('provider');
  });

  it('passes the usage chunk through to a caller who asked for it', async () => {
    const b = budget(10_000);
    const client = h.client();
    const chunks = await h.within(b, async () =>
      drain(
        await client.chat.completions.create({
          model: MODEL,
          messages: MESSAGES,
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    );
    const last = chunks.at(-1) as OpenAI.ChatCompletionChunk;
    expect(last.choices).toEqual([]);
    expect(last.usage?.total_tokens).toBe(promptOf() + 40);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 40, reserved: 0 });
  });

  it('stops a 2,000-token stream with no cap inside a 500-token budget', async () => {
    const b = budget(500);
    const client = h.client();
    const seen: OpenAI.ChatCompletionChunk[] = [];
    const error = await h
      .within(b, async () => {
        const stream = await client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, stream: true },
          long,
        );
        for await (const chunk of stream) seen.push(chunk);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ scope: 'test', key: b.key, limit: 500, used: 500, reserved: 0 });
    expect(chatText(seen)).toBe(' hello'.repeat(500 - promptOf()));
    await h.server.settled();
    expect(h.server.tally.totalTokens).toBeLessThanOrEqual(500);
    expect(h.server.tally.totalTokens).toBe(500);
    expect(await h.tokens(b)).toEqual({ used: 500, reserved: 0 });
    expect(h.events.filter((e) => e.type === 'refused')).toHaveLength(1);
  });

  it('aborts a stream from a server that ignores the cap once it passes what was granted', async () => {
    const b = budget(500);
    const client = h.client({}, { fetch: ignoringCaps });
    const granted = 500 - promptOf();
    const seen: OpenAI.ChatCompletionChunk[] = [];
    let controller: AbortController | undefined;
    const error = await h
      .within(b, async () => {
        const stream = await client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, stream: true },
          long,
        );
        controller = stream.controller;
        for await (const chunk of stream) seen.push(chunk);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(controller?.signal.aborted).toBe(true);
    // The chunk that crossed the line was received (and billed) but not handed to the caller.
    expect(chatText(seen)).toBe(' hello'.repeat(granted));
    expect(await h.tokens(b)).toEqual({ used: 500 + 1, reserved: 0 });
    await h.server.settled();
    // The server bills what it wrote before it saw the abort: a chunk or two past the ledger.
    expect(h.server.tally.totalTokens).toBeGreaterThanOrEqual(501);
    expect(h.server.tally.totalTokens).toBeLessThanOrEqual(510);
  });

  it('charges prompt + received output when the caller breaks, and releases the rest', async () => {
    const b = budget(10_000);
    const client = h.client();
    let received = 0;
    await h.within(b, async () => {
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        stream: true,
      });
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) received += 1;
        if (received === 10) break;
      }
    });
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 10, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details).toMatchObject({
      outputTokens: 10,
      source: 'estimate',
    });
  });

  it('charges prompt + received output when the caller aborts through the controller', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        stream: true,
      });
      let received = 0;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) received += 1;
        if (received === 5) stream.controller.abort();
      }
    });
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 5, reserved: 0 });
  });

  it('charges a stream cut by the network what it received, as the provider bills it', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'cut-stream', afterChunks: 7 });
    const error = await h
      .within(b, async () =>
        drain(
          await client.chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true }),
        ),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(BudgetExceededError);
    await h.server.settled();
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 7, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(promptOf() + 7);
  });

  it('charges its own count when the stream carries no usage', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'omit-usage' });
    await h.within(b, async () =>
      drain(
        await client.chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true }),
      ),
    );
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details?.source).toBe('estimate');
  });

  it('meters through toReadableStream() and tee()', async () => {
    const b1 = budget(10_000);
    const b2 = budget(10_000);
    const client = h.client();
    await h.within(b1, async () => {
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        stream: true,
      });
      const text = await new Response(stream.toReadableStream()).text();
      expect(text.trim().split('\n')).toHaveLength(42); // role chunk, 40 content chunks, finish chunk
    });
    expect(await h.tokens(b1)).toEqual({ used: promptOf() + 40, reserved: 0 });
    await h.within(b2, async () => {
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        stream: true,
      });
      const [left, right] = stream.tee();
      const [a, c] = await Promise.all([drain(left), drain(right)]);
      expect(chatText(a)).toBe(chatText(c));
    });
    expect(await h.tokens(b2)).toEqual({ used: promptOf() + 40, reserved: 0 });
  });

  it('keeps .withResponse() and .asResponse() on streams', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const { data, response } = await client.chat.completions
        .create({ model: MODEL, messages: MESSAGES, stream: true })
        .withResponse();
      expect(response.headers.get('content-type')).toMatch(/event-stream/);
      expect(chatText(await drain(data))).toBe(' hello'.repeat(40));
    });
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 40, reserved: 0 });

    const raw = budget(10_000);
    await h.within(raw, async () => {
      const response = await client.chat.completions
        .create({ model: MODEL, messages: MESSAGES, stream: true })
        .asResponse();
      expect(await response.text()).toContain('data: [DONE]');
    });
    await vi.waitFor(async () =>
      expect(await h.tokens(raw)).toEqual({ used: promptOf() + 40, reserved: 0 }),
    );
  });

  it('stops a raw stream read through asResponse() past the limit', async () => {
    const b = budget(300);
    const client = h.client({}, { fetch: ignoringCaps });
    const error = await h
      .within(b, async () => {
        const response = await client.chat.completions
          .create({ model: MODEL, messages: MESSAGES, stream: true }, long)
          .asResponse();
        return response.text();
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    await vi.waitFor(async () => expect(await h.tokens(b)).toEqual({ used: 301, reserved: 0 }));
  });

  it('never cuts a for-await over a stream that nothing else holds', async () => {
    const b = budget(10_000);
    const client = h.client();
    const text = await h.within(b, async () => {
      let out = '';
      let i = 0;
      for await (const chunk of await client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        stream: true,
      })) {
        out += chunk.choices[0]?.delta.content ?? '';
        if (i++ === 20) await collectGarbage();
      }
      return out;
    });
    expect(text).toBe(' hello'.repeat(40));
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 40, reserved: 0 });
  });

  it('settles a stream the caller dropped unread once it is collected, at what arrived, and aborts it', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      await client.chat.completions.create(
        { model: MODEL, messages: MESSAGES, stream: true },
        long,
      );
    });
    await collectGarbage();
    await vi.waitFor(async () => expect((await h.tokens(b)).reserved).toBe(0));
    await h.server.settled();
    const billed = h.server.tally.completionTokens;
    expect(billed).toBeLessThan(2000);
    // Output that reached the process unread was billed: it is charged, up to what the fake
    // wrote after the close and before it saw it.
    const output = (await h.tokens(b)).used - promptOf();
    expect(output).toBeLessThanOrEqual(billed);
    expect(output).toBeGreaterThanOrEqual(billed - 3);
  });

  it('settles a promise dropped unawaited once it is collected, at what was reserved', async () => {
    const b = budget(promptOf() + 100);
    const client = h.client();
    h.within(b, () => {
      // Sent, never awaited, dropped.
      client.chat.completions.create({ model: MODEL, messages: MESSAGES });
    });
    await vi.waitFor(() => expect(h.server.requests).toHaveLength(1));
    await collectGarbage();
    await vi.waitFor(async () =>
      expect(await h.tokens(b)).toEqual({ used: promptOf() + 100, reserved: 0 }),
    );
  });
});
