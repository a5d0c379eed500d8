import OpenAI, { APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { countChatTokens, countResponsesInput, countTokens } from '../../../lib/counting/index.js';
import { TokencapConfigError } from '../../../lib/errors.js';
import {
  CACHED_TOKENS_HEADER,
  REASONING_TOKENS_HEADER,
  REPLY_TOKENS_HEADER,
  REPLY_UNIT,
  startFakeOpenAI,
  type FakeOpenAIServer,
} from '../../../lib/testing/index.js';

// Every assertion compares against Tokencap's own counting, so a drift between the fake's
// billing and the counter shows up here rather than as a flaky budget test elsewhere.

let server: FakeOpenAIServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startFakeOpenAI({ replyTokens: 50, tokensPerChunk: 3 });
  client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello to the fake server, please.' },
];

describe('startFakeOpenAI', () => {
  it('listens on 127.0.0.1 with a /v1 base URL', () => {
    expect(server.baseURL).toBe(`http://127.0.0.1:${server.port}/v1`);
    expect(server.port).toBeGreaterThan(0);
  });

  it.each(['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-5', 'o1', 'o3-mini', 'gpt-4', 'gpt-3.5-turbo'])(
    'builds replies that count exactly under %s',
    (model) => {
      expect(countTokens(REPLY_UNIT, model)).toBe(1);
      expect(countTokens(REPLY_UNIT.repeat(1234), model)).toBe(1234);
    },
  );

  it('rejects nonsensical options', async () => {
    await expect(startFakeOpenAI({ replyTokens: -1 })).rejects.toThrow(TokencapConfigError);
    await expect(startFakeOpenAI({ keepAlive: 'false' as never })).rejects.toThrow(
      'startFakeOpenAI: keepAlive must be a boolean, got "false".',
    );
  });
});

describe('POST /v1/chat/completions (non-streamed)', () => {
  it('bills the prompt by the API rules and caps the reply at max_completion_tokens', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'lookup',
          description: 'Look a word up',
          parameters: { type: 'object', properties: { word: { type: 'string' } } },
        },
      },
    ];
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      tools,
      max_completion_tokens: 37,
    });

    const prompt = countChatTokens({ model: 'gpt-4o-mini', messages, tools });
    const content = completion.choices[0]!.message.content!;
    expect(completion).toMatchObject({
      id: 'chatcmpl-fake-000001',
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant' } }],
      usage: {
        prompt_tokens: prompt,
        completion_tokens: 37,
        total_tokens: prompt + 37,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(countTokens(content, 'gpt-4o-mini')).toBe(37);
    expect(server.tally).toMatchObject({
      requests: 1,
      promptTokens: prompt,
      completionTokens: 37,
      totalTokens: prompt + 37,
      byModel: { 'gpt-4o-mini': { requests: 1, promptTokens: prompt, completionTokens: 37 } },
      reported: { responses: 1, promptTokens: prompt, completionTokens: 37 },
    });
  });

  it('replies with replyTokens and stops when nothing caps it', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4', messages });
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage!.completion_tokens).toBe(50);
    expect(countTokens(completion.choices[0]!.message.content!, 'gpt-4')).toBe(50);
  });

  it('honours max_tokens and the x-fake-reply-tokens header', async () => {
    const headers = { [REPLY_TOKENS_HEADER]: '2000' };
    const long = await client.chat.completions.create({ model: 'gpt-4o', messages }, { headers });
    expect(long.usage!.completion_tokens).toBe(2000);
    expect(countTokens(long.choices[0]!.message.content!, 'gpt-4o')).toBe(2000);

    const capped = await client.chat.completions.create(
      { model: 'gpt-3.5-turbo', messages, max_tokens: 12 },
      { headers },
    );
    expect(capped.usage!.completion_tokens).toBe(12);
    expect(capped.choices[0]!.finish_reason).toBe('length');
  });

  it('bills each of n choices', async () => {
    const completion = await client.chat.completions.create(
      { model: 'gpt-4o', messages, n: 3 },
      { headers: { [REPLY_TOKENS_HEADER]: '10' } },
    );
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(completion.usage!.completion_tokens).toBe(30);
    expect(server.tally.completionTokens).toBe(30);
  });

  it('counts reasoning tokens inside completion_tokens for reasoning models', async () => {
    const completion = await client.chat.completions.create(
      { model: 'gpt-5-mini', messages, max_completion_tokens: 100 },
      { headers: { [REASONING_TOKENS_HEADER]: '40', [REPLY_TOKENS_HEADER]: '500' } },
    );
    const usage = completion.usage!;
    expect(usage.completion_tokens).toBe(100);
    expect(usage.completion_tokens_details!.reasoning_tokens).toBe(40);
    expect(countTokens(completion.choices[0]!.message.content!, 'gpt-5-mini')).toBe(60);
    expect(server.tally).toMatchObject({ completionTokens: 100, reasoningTokens: 40 });

    const defaults = await client.chat.completions.create({ model: 'o3-mini', messages });
    expect(defaults.usage!.completion_tokens_details!.reasoning_tokens).toBe(64);
    expect(defaults.usage!.completion_tokens).toBe(64 + 50);
  });

  it('reports cached tokens when forced by header or when a long prompt prefix repeats', async () => {
    const forced = await client.chat.completions.create(
      { model: 'gpt-4o', messages },
      { headers: { [CACHED_TOKENS_HEADER]: '7' } },
    );
    expect(forced.usage!.prompt_tokens_details!.cached_tokens).toBe(7);

    const long: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'context '.repeat(1500) },
      { role: 'user', content: 'first question' },
    ];
    const first = await client.chat.completions.create({ model: 'gpt-4o', messages: long });
    const firstPrompt = first.usage!.prompt_tokens;
    expect(firstPrompt).toBeGreaterThanOrEqual(1024);
    expect(first.usage!.prompt_tokens_details!.cached_tokens).toBe(0);

    const followUp = [
      ...long,
      { role: 'assistant' as const, content: first.choices[0]!.message.content! },
      { role: 'user' as const, content: 'second question' },
    ];
    const second = await client.chat.completions.create({ model: 'gpt-4o', messages: followUp });
    expect(second.usage!.prompt_tokens_details!.cached_tokens).toBe(
      Math.floor(firstPrompt / 128) * 128,
    );
    expect(server.tally.cachedTokens).toBe(7 + Math.floor(firstPrompt / 128) * 128);

    const otherModel = await client.chat.completions.create({ model: 'gpt-4.1', messages: long });
    expect(otherModel.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
  });

  it('echoes a configured snapshot name while billing under the requested model', async () => {
    const pinned = await startFakeOpenAI({ modelSnapshots: { 'gpt-4o': 'gpt-4o-2024-08-06' } });
    try {
      const c = new OpenAI({ apiKey: 'test', baseURL: pinned.baseURL, maxRetries: 0 });
      const completion = await c.chat.completions.create({ model: 'gpt-4o', messages });
      expect(completion.model).toBe('gpt-4o-2024-08-06');
      expect(Object.keys(pinned.tally.byModel)).toEqual(['gpt-4o']);
    } finally {
      await pinned.close();
    }
  });

  it('answers invalid requests with a 400 in the API error shape', async () => {
    const error = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as APIError).param).toBe('messages');
    expect(server.tally.requests).toBe(0);
  });
});

describe('POST /v1/chat/completions (streamed)', () => {
  it('streams content whose token count equals the usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_completion_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const usageChunk = chunks.at(-1)!;
    const prompt = countChatTokens({ model: 'gpt-4o-mini', messages });
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 20,
      total_tokens: prompt + 20,
    });
    expect(countTokens(content, 'gpt-4o-mini')).toBe(20);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    // 20 tokens at 3 per chunk: role chunk, 7 content chunks, finish chunk, usage chunk.
    expect(chunks).toHaveLength(10);
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(['chatcmpl-fake-000001']));
    expect(server.tally).toMatchObject({ requests: 1, promptTokens: prompt, completionTokens: 20 });
  });

  it('sends no usage chunk without include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      stream: true,
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    const content = chunks.map((c) => c.choices[0]!.delta.content ?? '').join('');
    expect(countTokens(content, 'gpt-4o')).toBe(50);
    expect(server.tally.completionTokens).toBe(50);
    expect(server.tally.reported.responses).toBe(0);
  });

  it('ends the SSE stream with [DONE]', async () => {
    const res = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REPLY_TOKENS_HEADER]: '2' },
      body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text.split('\n\n').filter(Boolean)).toHaveLength(4);
  });

  it('streams reasoning-model usage with reasoning tokens billed up front', async () => {
    const stream = await client.chat.completions.create(
      { model: 'o4-mini', messages, stream: true, stream_options: { include_usage: true } },
      { headers: { [REASONING_TOKENS_HEADER]: '10', [REPLY_TOKENS_HEADER]: '6' } },
    );
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage).toMatchObject({
      completion_tokens: 16,
      completion_tokens_details: { reasoning_tokens: 10 },
    });
  });
});

describe('POST /v1/responses', () => {
  it('returns a completed Response whose output_text counts as output_tokens', async () => {
    const input = 'Write a greeting.';
    const response = await client.responses.create({
      model: 'gpt-4.1-mini',
      input,
      instructions: 'Be brief.',
    });
    const inputTokens = countResponsesInput({
      model: 'gpt-4.1-mini',
      input,
      instructions: 'Be brief.',
    });
    expect(response).toMatchObject({
      id: 'resp_fake_000001',
      object: 'response',
      status: 'completed',
      model: 'gpt-4.1-mini',
      instructions: 'Be brief.',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text' }] }],
      usage: {
        input_tokens: inputTokens,
        output_tokens: 50,
        total_tokens: inputTokens + 50,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(countTokens(response.output_text, 'gpt-4.1-mini')).toBe(50);
    expect(server.tally).toMatchObject({ promptTokens: inputTokens, completionTokens: 50 });
  });

  it('ends incomplete when max_output_tokens truncates, reasoning included', async () => {
    const input: OpenAI.Responses.ResponseInput = [
      { role: 'user', content: [{ type: 'input_text', text: 'Think hard.' }] },
    ];
    const response = await client.responses.create({
      model: 'o3',
      input,
      max_output_tokens: 80,
    });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(response.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect(response.usage).toMatchObject({
      input_tokens: countResponsesInput({ model: 'o3', input }),
      output_tokens: 80,
      output_tokens_details: { reasoning_tokens: 64 },
    });
    expect(countTokens(response.output_text, 'o3')).toBe(16);
  });

  it('streams the Responses event sequence with usage on response.completed', async () => {
    const stream = await client.responses.create({
      model: 'gpt-4o',
      input: 'Stream please.',
      max_output_tokens: 16,
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);

    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(6).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.flatMap((e) =>
      e.type === 'response.output_text.delta' ? [e.delta] : [],
    );
    const last = events.at(-1) as OpenAI.Responses.ResponseIncompleteEvent;
    expect(countTokens(deltas.join(''), 'gpt-4o')).toBe(16);
    expect(last.response.usage).toMatchObject({ output_tokens: 16 });
    expect(server.tally.completionTokens).toBe(16);
  });

  it('works with the SDK stream helper and its final response', async () => {
    const stream = client.responses.stream({ model: 'gpt-5', input: 'Hi' });
    const final = await stream.finalResponse();
    expect(final.status).toBe('completed');
    expect(final.usage!.output_tokens).toBe(64 + 50);
    expect(countTokens(final.output_text, 'gpt-5')).toBe(50);
  });
});

describe('POST /v1/embeddings', () => {
  it('bills the summed token count of every input', async () => {
    const input = ['first text to embed', 'and a second, longer text to embed'];
    const result = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    const expected = input.reduce((n, s) => n + countTokens(s, 'text-embedding-3-small'), 0);
    expect(result.usage).toEqual({ prompt_tokens: expected, total_tokens: expected });
    expect(result.data.map((d) => d.index)).toEqual([0, 1]);
    expect(result.data[0]!.embedding).toHaveLength(8);
    expect(server.tally).toMatchObject({
      requests: 1,
      promptTokens: expected,
      completionTokens: 0,
    });
  });

  it('returns deterministic vectors, the same in base64 and float encodings', async () => {
    const body = { model: 'text-embedding-3-large', input: 'same', dimensions: 16 };
    const a = await client.embeddings.create(body);
    const b = await client.embeddings.create({ ...body, encoding_format: 'float' });
    expect(a.data[0]!.embedding).toHaveLength(16);
    expect(Array.from(a.data[0]!.embedding)).toEqual(b.data[0]!.embedding);
  });

  it('accepts token arrays and bills their length', async () => {
    const result = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: [
        [1, 2, 3],
        [4, 5],
      ],
    });
    expect(result.usage.prompt_tokens).toBe(5);
  });
});

describe('routing and bookkeeping', () => {
  it('answers unknown routes with a 404 in the API error shape', async () => {
    const res = await fetch(`${server.baseURL}/nope`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        message: 'Invalid URL (POST /v1/nope)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });

  it('logs every request it receives, and reset() forgets them', async () => {
    await client.chat.completions.create(
      { model: 'gpt-4o', messages },
      { headers: { 'x-trace': 'a' } },
    );
    const [logged] = server.requests;
    expect(server.requests).toHaveLength(1);
    expect(logged).toMatchObject({
      seq: 1,
      method: 'POST',
      path: '/v1/chat/completions',
      body: { model: 'gpt-4o', messages },
      headers: { 'x-trace': 'a', authorization: 'Bearer test' },
    });
    server.reset();
    expect(server.requests).toEqual([]);
    expect(server.tally).toMatchObject({ requests: 0, totalTokens: 0, byModel: {} });
  });

  it('rejects a wrong API key when one is configured', async () => {
    const locked = await startFakeOpenAI({ apiKey: 'sk-right' });
    try {
      const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: locked.baseURL, maxRetries: 0 });
      await expect(
        wrong.chat.completions.create({ model: 'gpt-4o', messages }),
      ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      const right = new OpenAI({ apiKey: 'sk-right', baseURL: locked.baseURL, maxRetries: 0 });
      await expect(
        right.chat.completions.create({ model: 'gpt-4o', messages }),
      ).resolves.toBeTruthy();
    } finally {
      await locked.close();
    }
  });

  it('bills exactly under hundreds of parallel requests', async () => {
    const prompt = countChatTokens({ model: 'gpt-4o-mini', messages });
    const calls = Array.from({ length: 300 }, (_, i) =>
      i % 2 === 0
        ? client.chat.completions.create(
            { model: 'gpt-4o-mini', messages },
            { headers: { [REPLY_TOKENS_HEADER]: String(i % 7) } },
          )
        : client.chat.completions
            .create(
              { model: 'gpt-4o-mini', messages, stream: true },
              { headers: { [REPLY_TOKENS_HEADER]: String(i % 7) } },
            )
            .then(async (stream) => {
              for await (const _chunk of stream);
            }),
    );
    await Promise.all(calls);
    const completion = Array.from({ length: 300 }, (_, i) => i % 7).reduce((a, b) => a + b, 0);
    expect(server.tally).toMatchObject({
      requests: 300,
      promptTokens: 300 * prompt,
      completionTokens: completion,
      totalTokens: 300 * prompt + completion,
    });
  });
});

describe('keepAlive', () => {
  it('keeps connections open by default and closes each one after its response when turned off', async () => {
    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const post = (url: string) =>
      fetch(`${url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const kept = await startFakeOpenAI();
    const closing = await startFakeOpenAI({ keepAlive: false });
    try {
      const a = await post(kept.baseURL);
      const b = await post(closing.baseURL);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.headers.get('connection')).toBe('keep-alive');
      expect(b.headers.get('connection')).toBe('close');
      await Promise.all([a.text(), b.text()]);
    } finally {
      await kept.close();
      await closing.close();
    }
  });
});
