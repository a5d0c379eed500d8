import OpenAI, { APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { countChatTokens, countTokens } from '../../../lib/counting/index.js';
import { TokencapConfigError } from '../../../lib/errors.js';
import {
  REPLY_TOKENS_HEADER,
  startFakeOpenAI,
  type FakeOpenAIServer,
} from '../../../lib/testing/index.js';

let server: FakeOpenAIServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startFakeOpenAI({ replyTokens: 30 });
  client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const model = 'gpt-4o-mini';
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Count to ten.' }];
const prompt = () => countChatTokens({ model, messages });

function chat(extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) {
  return client.chat.completions.create({ model, messages, ...extra });
}

function streamChat(headers: Record<string, string> = {}, includeUsage = true) {
  return client.chat.completions.create(
    { model, messages, stream: true, stream_options: { include_usage: includeUsage } },
    { headers },
  );
}

describe('error faults', () => {
  it('answers the next request with a 500 the SDK surfaces as an APIError', async () => {
    server.fail({ kind: 'error', status: 500 });
    const error = (await chat().catch((e: unknown) => e)) as APIError;
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(500);
    expect(error.type).toBe('server_error');
    expect(error.requestID).toMatch(/^req_fake_/);
    expect(server.tally.requests).toBe(0);
    // Only the next request: the one after succeeds.
    await expect(chat()).resolves.toMatchObject({ usage: { completion_tokens: 30 } });
  });

  it('answers 429s with rate-limit code and headers, `times` in a row', async () => {
    const handle = server.fail(
      { kind: 'error', status: 429, headers: { 'retry-after': '1' } },
      { times: 2 },
    );
    for (let i = 0; i < 2; i++) {
      const error = (await chat().catch((e: unknown) => e)) as APIError;
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect(error.status).toBe(429);
      expect(error.code).toBe('rate_limit_exceeded');
      expect(error.headers?.get('retry-after')).toBe('1');
    }
    expect(handle).toMatchObject({ applied: 2, remaining: 0 });
    await expect(chat()).resolves.toBeTruthy();
    expect(server.tally.requests).toBe(1);
    expect(server.requests).toHaveLength(3);
  });

  it('lets a predicate pick the requests and custom fields shape the error', async () => {
    const handle = server.fail(
      {
        kind: 'error',
        status: 429,
        message: 'quota',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
      },
      { times: Infinity, when: (r) => r.path === '/v1/embeddings' },
    );
    await expect(chat()).resolves.toBeTruthy();
    const error = (await client.embeddings
      .create({ model: 'text-embedding-3-small', input: 'x' })
      .catch((e: unknown) => e)) as APIError;
    expect(error.code).toBe('insufficient_quota');
    expect(error.error).toEqual({
      message: 'quota',
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    });
    handle.cancel();
    await expect(
      client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }),
    ).resolves.toBeTruthy();
  });

  it('rejects invalid fault definitions', () => {
    expect(() => server.fail({ kind: 'error', status: 200 })).toThrow(TokencapConfigError);
    expect(() => server.fail({ kind: 'cut-stream', afterChunks: -1 })).toThrow(TokencapConfigError);
    expect(() => server.fail({ kind: 'delay', ms: 1 }, { times: 0 })).toThrow(TokencapConfigError);
  });
});

describe('delay fault', () => {
  it('makes the client time out, and bills nothing', async () => {
    server.fail({ kind: 'delay', ms: 2_000 });
    const started = Date.now();
    const error = await client.chat.completions
      .create({ model, messages }, { timeout: 150 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(Date.now() - started).toBeLessThan(1_500);
    await server.settled();
    expect(server.tally.requests).toBe(0);
    expect(server.requests).toHaveLength(1);
  });

  it('answers normally once the delay is over', async () => {
    server.fail({ kind: 'delay', ms: 50 });
    const started = Date.now();
    await expect(chat()).resolves.toBeTruthy();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});

describe('client abort mid-stream', () => {
  it('bills the prompt plus only the tokens sent before a `break`', async () => {
    const slow = await startFakeOpenAI({ chunkDelayMs: 5 });
    try {
      const c = new OpenAI({ apiKey: 'test', baseURL: slow.baseURL, maxRetries: 0 });
      const stream = await c.chat.completions.create(
        { model, messages, stream: true },
        { headers: { [REPLY_TOKENS_HEADER]: '2000' } },
      );
      let received = '';
      for await (const chunk of stream) {
        received += chunk.choices[0]?.delta.content ?? '';
        if (countTokens(received, model) >= 5) break;
      }
      await slow.settled();
      const billed = slow.tally;
      expect(billed.requests).toBe(1);
      expect(billed.promptTokens).toBe(prompt());
      expect(billed.completionTokens).toBeGreaterThanOrEqual(5);
      expect(billed.completionTokens).toBeLessThan(500);
      expect(billed.reported.responses).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('bills only what was sent when the controller aborts', async () => {
    const slow = await startFakeOpenAI({ chunkDelayMs: 5, tokensPerChunk: 2 });
    try {
      const c = new OpenAI({ apiKey: 'test', baseURL: slow.baseURL, maxRetries: 0 });
      const stream = await c.chat.completions.create(
        { model, messages, stream: true, stream_options: { include_usage: true } },
        { headers: { [REPLY_TOKENS_HEADER]: '2000' } },
      );
      let chunks = 0;
      // The SDK ends the iteration quietly when its own controller aborts.
      for await (const _chunk of stream) {
        if (++chunks === 4) stream.controller.abort();
      }
      expect(chunks).toBe(4);
      await slow.settled();
      expect(slow.tally.completionTokens % 2).toBe(0);
      expect(slow.tally.completionTokens).toBeGreaterThanOrEqual(6);
      expect(slow.tally.completionTokens).toBeLessThan(500);
      expect(slow.inFlight).toBe(0);
    } finally {
      await slow.close();
    }
  });
});

describe('cut-stream fault', () => {
  it('drops the connection after K chunks and bills those chunks', async () => {
    server.fail({ kind: 'cut-stream', afterChunks: 3 });
    const stream = await streamChat();
    let content = '';
    const consumed = (async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    })();
    await expect(consumed).rejects.toThrow();
    await server.settled();
    expect(countTokens(content, model)).toBe(3);
    expect(server.tally).toMatchObject({
      requests: 1,
      promptTokens: prompt(),
      completionTokens: 3,
      reported: { responses: 0 },
    });
  });

  it('drops a non-streamed request before any byte, billing nothing', async () => {
    server.fail({ kind: 'cut-stream', afterChunks: 0 });
    await expect(chat()).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    await server.settled();
    expect(server.tally.requests).toBe(0);
  });

  it('cuts a Responses stream after K text deltas', async () => {
    server.fail({ kind: 'cut-stream', afterChunks: 2 });
    const stream = await client.responses.create({ model, input: 'hi', stream: true });
    const types: string[] = [];
    const consumed = (async () => {
      for await (const event of stream) types.push(event.type);
    })();
    await expect(consumed).rejects.toThrow();
    await server.settled();
    expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(2);
    expect(types).not.toContain('response.completed');
    expect(server.tally.completionTokens).toBe(2);
  });
});

describe('usage faults', () => {
  it('omit-usage: a stream with include_usage ends without a usage chunk', async () => {
    server.fail({ kind: 'omit-usage' });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await streamChat()) chunks.push(chunk);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(server.tally).toMatchObject({ completionTokens: 30, reported: { responses: 0 } });
  });

  it('omit-usage: a non-streamed reply has no usage field', async () => {
    server.fail({ kind: 'omit-usage' });
    const completion = await chat();
    expect(completion.usage).toBeUndefined();
    const response = await client.responses.create({ model, input: 'hi' });
    expect(response.usage).toMatchObject({ output_tokens: 30 });
  });

  it('malformed-usage: sends wrong types, or the given payload', async () => {
    server.fail({ kind: 'malformed-usage' });
    const completion = await chat();
    expect(completion.usage).toEqual({
      prompt_tokens: null,
      completion_tokens: 'twelve',
      total_tokens: -1,
    });
    server.fail({ kind: 'malformed-usage', usage: { prompt_tokens: 1 } });
    let usage: unknown;
    for await (const chunk of await streamChat()) usage = chunk.usage ?? usage;
    expect(usage).toEqual({ prompt_tokens: 1 });
    expect(server.tally).toMatchObject({ requests: 2, completionTokens: 60 });
    expect(server.tally.reported.responses).toBe(0);
  });

  it('over-report-usage: reports more than was produced, bills reality', async () => {
    server.fail({ kind: 'over-report-usage', factor: 3, extraTokens: 5 });
    const completion = await chat();
    const p = prompt();
    expect(completion.usage).toMatchObject({
      prompt_tokens: p * 3 + 5,
      completion_tokens: 30 * 3 + 5,
      total_tokens: p * 3 + 5 + 95,
    });
    expect(countTokens(completion.choices[0]!.message.content!, model)).toBe(30);
    expect(server.tally).toMatchObject({
      promptTokens: p,
      completionTokens: 30,
      reported: { promptTokens: p * 3 + 5, completionTokens: 95 },
    });
  });

  it('over-report-usage applies to the Responses stream too', async () => {
    server.fail({ kind: 'over-report-usage' });
    const stream = await client.responses.create({ model, input: 'hi', stream: true });
    let usage: OpenAI.Responses.ResponseUsage | undefined;
    for await (const event of stream) {
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(usage!.output_tokens).toBe(60);
    expect(server.tally.completionTokens).toBe(30);
  });
});

describe('latency', () => {
  it('delays the first byte by latencyMs', async () => {
    const laggy = await startFakeOpenAI({ latencyMs: 80, replyTokens: 1 });
    try {
      const c = new OpenAI({ apiKey: 'test', baseURL: laggy.baseURL, maxRetries: 0 });
      const started = Date.now();
      await c.chat.completions.create({ model, messages });
      expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    } finally {
      await laggy.close();
    }
  });
});
