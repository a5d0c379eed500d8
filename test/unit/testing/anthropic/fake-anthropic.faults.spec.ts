import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  REPLY_TOKENS_HEADER,
  startFakeAnthropic,
  type FakeAnthropicOptions,
  type FakeAnthropicServer,
} from '../../../../lib/testing/index.js';
import { count, MODEL, rawEvents, userPromptTokens } from './anthropic.fixture.js';

let server: FakeAnthropicServer;
let client: Anthropic;

beforeAll(async () => {
  server = await startFakeAnthropic({ replyTokens: 40 });
  client = new Anthropic({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Hello there, how are you?' }];
const INPUT = userPromptTokens(['Hello there, how are you?']); // 14
const params = { model: MODEL, max_tokens: 1000, messages };

async function withServer(
  options: FakeAnthropicOptions,
  run: (s: FakeAnthropicServer, c: Anthropic) => Promise<void>,
  clientOptions: ConstructorParameters<typeof Anthropic>[0] = {},
) {
  const s = await startFakeAnthropic(options);
  try {
    await run(
      s,
      new Anthropic({ apiKey: 'test', baseURL: s.baseURL, maxRetries: 0, ...clientOptions }),
    );
  } finally {
    await s.close();
  }
}

describe('error faults', () => {
  it.each([
    [429, Anthropic.RateLimitError, 'rate_limit_error'],
    [529, Anthropic.OverloadedError, 'overloaded_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
  ] as const)('answers %i as the API does, billing nothing', async (status, errorClass, type) => {
    server.fail({ kind: 'error', status });
    const error = await client.messages.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(errorClass);
    expect(error.status).toBe(status);
    expect(error.type).toBe(type);
    expect(error.error).toEqual({
      type: 'error',
      error: { type, message: expect.any(String) },
      request_id: error.requestID,
    });
    expect(error.requestID).toMatch(/^req_fake_/);
    expect(server.tally.requests).toBe(0);
    await expect(client.messages.create(params)).resolves.toBeTruthy();
    expect(server.tally.requests).toBe(1);
  });

  it('sends retry-after on a 429, and custom type, message, details and headers', async () => {
    server.fail({ kind: 'error', status: 429 });
    const plain = await client.messages.create(params).catch((e) => e);
    expect(plain.headers.get('retry-after')).toBe('1');
    expect(plain.headers.get('retry-after-ms')).toBe('10');
    server.fail({
      kind: 'error',
      status: 429,
      message: 'Spend limit reached.',
      details: { error_code: 'enforced_spend_limit_reached' },
      headers: { 'retry-after': '60', 'x-should-retry': 'false' },
    });
    const custom = await client.messages.create(params).catch((e) => e);
    expect(custom.apiMessage).toBe('Spend limit reached.');
    expect(custom.errorCode).toBe('enforced_spend_limit_reached');
    expect(custom.headers.get('retry-after')).toBe('60');
  });

  it('is billed once when the SDK retries 429 and 529 into a success', async () => {
    await withServer(
      { replyTokens: 40 },
      async (s, c) => {
        const rate = s.fail({ kind: 'error', status: 429 });
        const overload = s.fail({ kind: 'error', status: 529 });
        const message = await c.messages.create(params);
        expect(message.usage).toMatchObject({ input_tokens: INPUT, output_tokens: 40 });
        expect(rate.applied + overload.applied).toBe(2);
        expect(s.requests).toHaveLength(3);
        expect(s.tally).toMatchObject({
          requests: 1,
          inputTokens: INPUT,
          outputTokens: 40,
          reported: { responses: 1 },
        });
      },
      { maxRetries: 2 },
    );
  });

  it('bills nothing when the SDK runs out of retries, and obeys x-should-retry: false', async () => {
    await withServer(
      {},
      async (s, c) => {
        s.fail({ kind: 'error', status: 529 }, { times: 3 });
        await expect(c.messages.create(params)).rejects.toBeInstanceOf(Anthropic.OverloadedError);
        expect(s.requests).toHaveLength(3);
        s.fail({ kind: 'error', status: 500, headers: { 'x-should-retry': 'false' } });
        await expect(c.messages.create(params)).rejects.toBeInstanceOf(
          Anthropic.InternalServerError,
        );
        expect(s.requests).toHaveLength(4);
        expect(s.tally.requests).toBe(0);
      },
      { maxRetries: 2 },
    );
  });

  it('lets a predicate aim a fault at one route', async () => {
    const handle = server.fail(
      { kind: 'error', status: 529 },
      { times: Infinity, when: (r) => r.path === '/v1/messages' },
    );
    await expect(client.messages.countTokens({ model: MODEL, messages })).resolves.toEqual({
      input_tokens: INPUT,
    });
    await expect(client.messages.create(params)).rejects.toBeInstanceOf(Anthropic.OverloadedError);
    expect(handle.applied).toBe(1);
    handle.cancel();
    await expect(client.messages.create(params)).resolves.toBeTruthy();
  });

  it('rejects fault definitions that cannot happen', () => {
    expect(() => server.fail({ kind: 'error', status: 200 })).toThrow(RangeError);
    expect(() => server.fail({ kind: 'cut-stream', afterChunks: -1 })).toThrow('afterChunks');
    expect(() => server.fail({ kind: 'over-report-usage', factor: 0.5 })).toThrow('MORE');
    expect(() => server.fail({ kind: 'under-report-usage', factor: 2 })).toThrow('LESS');
    expect(() => server.fail({ kind: 'delay', ms: Infinity })).toThrow('finite');
    expect(() => server.fail({ kind: 'nope' } as never)).toThrow('unknown fault kind "nope"');
    expect(() => server.fail({ kind: 'omit-usage' }, { times: 0 })).toThrow('times');
  });
});

describe('delay fault and timeouts', () => {
  it('answers normally after the delay', async () => {
    server.fail({ kind: 'delay', ms: 40 });
    const started = Date.now();
    await expect(client.messages.create(params)).resolves.toBeTruthy();
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    expect(server.tally.requests).toBe(1);
  });

  it("bills nothing for a request the client gave up on, under 'generated' billing", async () => {
    server.fail({ kind: 'delay', ms: 300 });
    await expect(client.messages.create(params, { timeout: 50 })).rejects.toBeInstanceOf(
      Anthropic.APIConnectionTimeoutError,
    );
    await server.settled();
    expect(server.tally.requests).toBe(0);
    expect(server.requests).toHaveLength(1);
  });

  it("bills every attempt in full under 'full' billing, as a provider that kept generating", async () => {
    await withServer(
      { abortBilling: 'full', replyTokens: 40 },
      async (s, c) => {
        s.fail({ kind: 'delay', ms: 300 }, { times: 2 });
        const message = await c.messages.create(params, { timeout: 100 });
        expect(message.usage.output_tokens).toBe(40);
        await s.settled();
        expect(s.requests).toHaveLength(3);
        expect(s.tally).toMatchObject({
          requests: 3,
          inputTokens: 3 * INPUT,
          outputTokens: 3 * 40,
        });
        expect(s.tally.reported.responses).toBe(1);
      },
      { maxRetries: 2 },
    );
  });
});

describe('stream faults', () => {
  it('cut-stream drops the connection after K deltas and bills the input and what was sent', async () => {
    server.fail({ kind: 'cut-stream', afterChunks: 3 });
    const stream = await client.messages.create({ ...params, stream: true });
    let text = '';
    const consumed = (async () => {
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
          text += event.delta.text;
      }
    })();
    await expect(consumed).rejects.toThrow();
    await server.settled();
    expect(text.split(' ')).toHaveLength(3);
    expect(server.tally).toMatchObject({
      requests: 1,
      inputTokens: INPUT,
      outputTokens: count(text),
      reported: { responses: 0 },
    });
  });

  it("cut-stream bills the whole reply under 'full' billing", async () => {
    await withServer({ abortBilling: 'full', replyTokens: 40 }, async (s, c) => {
      s.fail({ kind: 'cut-stream', afterChunks: 2 });
      await expect(c.messages.stream(params).finalMessage()).rejects.toThrow();
      await s.settled();
      expect(s.tally).toMatchObject({ requests: 1, inputTokens: INPUT, outputTokens: 40 });
    });
  });

  it('cut-stream on a request that is not streamed drops it before any byte, billing nothing', async () => {
    server.fail({ kind: 'cut-stream', afterChunks: 0 });
    await expect(client.messages.create(params)).rejects.toBeInstanceOf(
      Anthropic.APIConnectionError,
    );
    await server.settled();
    expect(server.tally.requests).toBe(0);
  });

  it('stream-error sends an error event the SDK raises as overloaded, billing what was sent', async () => {
    server.fail({ kind: 'stream-error', afterChunks: 2 });
    const events = await rawEvents(server, params);
    expect(events.slice(-1)).toEqual([
      {
        event: 'error',
        data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      },
    ]);
    const sent = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => e.data.delta.text)
      .join('');
    await server.settled();
    expect(server.tally).toMatchObject({
      requests: 1,
      inputTokens: INPUT,
      outputTokens: count(sent),
    });

    server.fail({ kind: 'stream-error', afterChunks: 1, type: 'api_error', message: 'boom' });
    const error = await client.messages
      .stream(params)
      .finalMessage()
      .catch((e) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error.type).toBe('api_error');
  });

  it('stream-error on a request that is not streamed is a 529 the SDK can retry', async () => {
    await withServer(
      { replyTokens: 40 },
      async (s, c) => {
        s.fail({ kind: 'stream-error', afterChunks: 0 });
        await expect(c.messages.create(params)).resolves.toMatchObject({
          usage: { output_tokens: 40 },
        });
        expect(s.requests).toHaveLength(2);
        expect(s.tally.requests).toBe(1);
      },
      { maxRetries: 1 },
    );
  });
});

describe('usage faults', () => {
  it('omit-usage: no usage on the message nor in the stream events; billing unchanged', async () => {
    server.fail({ kind: 'omit-usage' });
    const message = await client.messages.create(params);
    expect(message.usage).toBeUndefined();
    server.fail({ kind: 'omit-usage' });
    const events = await rawEvents(server, params);
    expect(events[0]!.data.message.usage).toBeUndefined();
    expect(events.find((e) => e.event === 'message_delta')!.data.usage).toBeUndefined();
    expect(server.tally).toMatchObject({
      requests: 2,
      inputTokens: 2 * INPUT,
      outputTokens: 80,
      reported: { responses: 0 },
    });
  });

  it('omit-usage on count_tokens leaves input_tokens out', async () => {
    server.fail({ kind: 'omit-usage' });
    await expect(client.messages.countTokens({ model: MODEL, messages })).resolves.toEqual({});
  });

  it('malformed-usage: wrong types, or the given payload', async () => {
    server.fail({ kind: 'malformed-usage' });
    const message = await client.messages.create(params);
    expect(message.usage).toMatchObject({ input_tokens: null, output_tokens: 'many' });
    server.fail({ kind: 'malformed-usage', usage: { output_tokens: -5 } });
    expect((await client.messages.create(params)).usage).toEqual({ output_tokens: -5 });
    expect(server.tally).toMatchObject({
      requests: 2,
      outputTokens: 80,
      reported: { responses: 0 },
    });
  });

  it('over-report-usage: the client is told more than was billed', async () => {
    server.fail({ kind: 'over-report-usage', factor: 2, extraTokens: 1 });
    const stream = await client.messages.stream(params).finalMessage();
    expect(stream.usage).toMatchObject({ input_tokens: 2 * INPUT + 1, output_tokens: 81 });
    expect(server.tally).toMatchObject({
      inputTokens: INPUT,
      outputTokens: 40,
      reported: { responses: 1, inputTokens: 2 * INPUT + 1, outputTokens: 81 },
    });
  });

  it('under-report-usage: the client is told less than was billed', async () => {
    server.fail({ kind: 'under-report-usage', factor: 0.5, missingTokens: 1 });
    const message = await client.messages.create(params);
    expect(message.usage).toMatchObject({ input_tokens: INPUT / 2 - 1, output_tokens: 19 });
    expect(server.tally).toMatchObject({
      inputTokens: INPUT,
      outputTokens: 40,
      reported: { outputTokens: 19 },
    });
  });
});

describe('client abort mid-stream', () => {
  const long = { [REPLY_TOKENS_HEADER]: '2000' };

  it("bills the input and only the tokens sent before a break, under 'generated' billing", async () => {
    await withServer({ chunkDelayMs: 5 }, async (s, c) => {
      const stream = await c.messages.create(
        { ...params, max_tokens: 4000, stream: true },
        { headers: long },
      );
      let received = '';
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
          received += event.delta.text;
        if (count(received) >= 5) break;
      }
      await s.settled();
      expect(s.inFlight).toBe(0);
      expect(s.tally.requests).toBe(1);
      expect(s.tally.inputTokens).toBe(INPUT);
      expect(s.tally.outputTokens).toBeGreaterThanOrEqual(count(received));
      expect(s.tally.outputTokens).toBeLessThan(100);
      expect(s.tally.reported.responses).toBe(0);
    });
  });

  it("bills the whole reply when the controller aborts, under 'full' billing", async () => {
    await withServer({ chunkDelayMs: 5, abortBilling: 'full' }, async (s, c) => {
      const stream = c.messages.stream({ ...params, max_tokens: 4000 }, { headers: long });
      let deltas = 0;
      stream.on('text', () => {
        if (++deltas === 3) stream.abort();
      });
      await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
      await s.settled();
      expect(s.tally).toMatchObject({ requests: 1, inputTokens: INPUT, outputTokens: 2000 });
    });
  });

  it('never bills an aborted stream twice, and settled() waits for the bill', async () => {
    await withServer({ chunkDelayMs: 2 }, async (s, c) => {
      const controllers = Array.from({ length: 10 }, () => new AbortController());
      await Promise.all(
        controllers.map(async (controller, i) => {
          const stream = await c.messages.create(
            { ...params, max_tokens: 4000, stream: true },
            { headers: long, signal: controller.signal },
          );
          let n = 0;
          for await (const _event of stream) if (++n === 5 + i) controller.abort();
        }),
      );
      await s.settled();
      expect(s.tally.requests).toBe(10);
      expect(s.tally.inputTokens).toBe(10 * INPUT);
      expect(s.inFlight).toBe(0);
    });
  });
});

describe('latency', () => {
  it('delays the first byte by latencyMs', async () => {
    await withServer({ latencyMs: 50 }, async (_s, c) => {
      const started = Date.now();
      await c.messages.create(params);
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    });
  });
});
