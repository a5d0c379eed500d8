import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { INPUT_RULES } from '../../../../lib/testing/anthropic/prompt.layout.js';
import {
  REPLY_TOKENS_HEADER,
  startFakeAnthropic,
  THINKING_TOKENS_HEADER,
  type FakeAnthropicServer,
} from '../../../../lib/testing/index.js';
import { count, MODEL, rawEvents, rawPost, userPromptTokens } from './anthropic.fixture.js';

let server: FakeAnthropicServer;
let client: Anthropic;

beforeAll(async () => {
  server = await startFakeAnthropic({
    replyTokens: 40,
    models: { 'claude-haiku-4-5': { replyTokens: 7 }, 'my-finetune': { reply: 'Fixed answer.' } },
  });
  client = new Anthropic({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const question = 'Hello there, how are you?';
const messages: Anthropic.MessageParam[] = [{ role: 'user', content: question }];

function create(extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}, headers = {}) {
  return client.messages.create(
    { model: MODEL, max_tokens: 1000, messages, ...extra },
    { headers },
  );
}

function textOf(message: Anthropic.Message): string {
  return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

describe('startFakeAnthropic', () => {
  it('listens on 127.0.0.1 and takes the SDK as is', async () => {
    expect(server.baseURL).toBe(`http://127.0.0.1:${server.port}`);
    const message = await create();
    expect(message.type).toBe('message');
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/messages']);
  });
});

describe('POST /v1/messages', () => {
  it('bills the documented input count and a reply of exactly replyTokens tokens', async () => {
    const { data: message, request_id } = await create().withResponse();
    // "Hello" "there" "," "how" "are" "you" "?" = 7, plus 4 for the message and 3 for the reply primer.
    expect(userPromptTokens([question])).toBe(14);
    expect(message.usage).toEqual({
      input_tokens: 14,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: 40,
      output_tokens_details: null,
      server_tool_use: null,
      service_tier: 'standard',
      inference_geo: null,
      speed: null,
    });
    expect(count(textOf(message))).toBe(40);
    expect(message).toMatchObject({
      id: 'msg_fake_000001',
      role: 'assistant',
      model: MODEL,
      stop_reason: 'end_turn',
      stop_sequence: null,
    });
    expect(request_id).toMatch(/^req_fake_/);
    expect(server.tally).toMatchObject({
      requests: 1,
      inputTokens: 14,
      outputTokens: 40,
      cacheReadInputTokens: 0,
      cacheCreationInputTokens: 0,
      thinkingTokens: 0,
      reported: { responses: 1, inputTokens: 14, outputTokens: 40 },
      byModel: { [MODEL]: { requests: 1, inputTokens: 14, outputTokens: 40 } },
    });
  });

  it('writes varied prose, the same for the same request and different for another', async () => {
    const a = textOf(await create({ max_tokens: 300 }, { [REPLY_TOKENS_HEADER]: '200' }));
    const again = textOf(await create({ max_tokens: 300 }, { [REPLY_TOKENS_HEADER]: '200' }));
    const other = textOf(
      await create({ messages: [{ role: 'user', content: 'Another question entirely.' }] }),
    );
    expect(again).toBe(a);
    expect(other.slice(0, 40)).not.toBe(a.slice(0, 40));
    const words = a.toLowerCase().match(/[a-z]+/g)!;
    expect(new Set(words).size).toBeGreaterThan(60);
  });

  it('stops at max_tokens with stop_reason max_tokens, billing exactly max_tokens', async () => {
    const message = await create({ max_tokens: 25 });
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(25);
    expect(count(textOf(message))).toBe(25);
    expect(server.tally.outputTokens).toBe(25);
  });

  it('takes the reply length from the header, then per-model options, then the server option', async () => {
    const fromHeader = await create({}, { [REPLY_TOKENS_HEADER]: '3' });
    expect(fromHeader.usage.output_tokens).toBe(3);
    const perModel = await create({ model: 'claude-haiku-4-5' });
    expect(perModel.usage.output_tokens).toBe(7);
    const fixed = await create({ model: 'my-finetune' });
    expect(textOf(fixed)).toBe('Fixed answer.');
    expect(fixed.usage.output_tokens).toBe(count('Fixed answer.'));
    const cut = await create({ model: 'my-finetune', max_tokens: 1 });
    expect(textOf(cut)).toBe('Fixed');
    expect(cut).toMatchObject({ stop_reason: 'max_tokens', usage: { output_tokens: 1 } });
    expect(server.tally.byModel['my-finetune']).toMatchObject({ requests: 2, outputTokens: 3 + 1 });
  });

  it('counts with the model tokenizer: the denser one for Opus 4.7 and later', async () => {
    const classic = await create({ model: 'claude-sonnet-4-6' });
    const dense = await create({ model: 'claude-opus-4-7' });
    expect(classic.usage.input_tokens).toBe(userPromptTokens([question], 'claude-3'));
    expect(dense.usage.input_tokens).toBe(userPromptTokens([question], 'claude-4.7'));
    expect(dense.usage.input_tokens).toBeGreaterThan(classic.usage.input_tokens);
    expect(count(textOf(dense), 'claude-4.7')).toBe(40);
  });

  it('ends at a stop sequence, billing the sequence but not returning it', async () => {
    const fixed = await startFakeAnthropic({ reply: 'Alpha beta. STOP here, please.' });
    try {
      const c = new Anthropic({ apiKey: 'test', baseURL: fixed.baseURL, maxRetries: 0 });
      const message = await c.messages.create({
        model: MODEL,
        max_tokens: 100,
        messages,
        stop_sequences: ['never', 'STOP'],
      });
      expect(textOf(message)).toBe('Alpha beta. ');
      expect(message).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'STOP' });
      expect(message.usage.output_tokens).toBe(count('Alpha beta. STOP'));
    } finally {
      await fixed.close();
    }
  });

  it('accepts max_tokens 0 (cache pre-warming): input billed, no content, no output', async () => {
    const message = await create({ max_tokens: 0 });
    expect(message.content).toEqual([]);
    expect(message).toMatchObject({
      stop_reason: 'max_tokens',
      usage: { input_tokens: 14, output_tokens: 0 },
    });
    expect(server.tally).toMatchObject({ requests: 1, inputTokens: 14, outputTokens: 0 });
  });

  it('refuses max_tokens above the model limit and prompts longer than its context window', async () => {
    // The SDK refuses large non-streamed max_tokens itself, so this goes out raw.
    const tooMany = await rawPost(server, '/v1/messages', {
      model: 'claude-opus-4-1',
      max_tokens: 32_001,
      messages,
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error).toEqual({
      type: 'invalid_request_error',
      message:
        'max_tokens: 32001 > 32000, which is the maximum allowed number of output tokens for claude-opus-4-1',
    });
    const small = await startFakeAnthropic({ models: { tiny: { contextWindow: 20 } } });
    try {
      const c = new Anthropic({ apiKey: 'test', baseURL: small.baseURL, maxRetries: 0 });
      const long = 'word '.repeat(30);
      const error = await c.messages
        .create({ model: 'tiny', max_tokens: 5, messages: [{ role: 'user', content: long }] })
        .catch((e) => e);
      expect(error).toBeInstanceOf(Anthropic.BadRequestError);
      expect(error.message).toContain(
        `prompt is too long: ${userPromptTokens([long])} tokens > 20 maximum`,
      );
      // A prompt that fits but leaves less than max_tokens stops at the window.
      const fits = await c.messages.create({ model: 'tiny', max_tokens: 50, messages });
      expect(fits).toMatchObject({
        stop_reason: 'model_context_window_exceeded',
        usage: { input_tokens: 14, output_tokens: 6 },
      });
      expect(small.tally.requests).toBe(1);
    } finally {
      await small.close();
    }
  });
});

describe('POST /v1/messages/count_tokens', () => {
  const document = Buffer.from('%PDF-1.4 /Type /Pages /Type /Page x /Type /Page').toString(
    'base64',
  );
  // A 2x3 PNG header: 6 pixels cost ceil(6 / 750) = 1 token.
  const png = Buffer.concat([
    Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
    Buffer.from([0, 0, 0, 2, 0, 0, 0, 3]),
  ]).toString('base64');
  const tools: Anthropic.Tool[] = [
    {
      name: 'get_weather',
      description: 'Current weather for a city',
      input_schema: {
        type: 'object',
        properties: { city: { type: 'string' } },
        required: ['city'],
      },
    },
  ];
  const prompts: Array<{ label: string; params: Anthropic.MessageCountTokensParams }> = [
    { label: 'one message', params: { model: MODEL, messages } },
    {
      label: 'system and turns',
      params: {
        model: MODEL,
        system: [{ type: 'text', text: 'You are terse.' }],
        messages: [
          { role: 'user', content: 'First.' },
          { role: 'assistant', content: 'Noted.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Second,' },
              { type: 'text', text: 'third.' },
            ],
          },
        ],
      },
    },
    { label: 'tools', params: { model: MODEL, messages, tools } },
    {
      label: 'a tool round trip',
      params: {
        model: MODEL,
        tools,
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: [
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            ],
          },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C, clear' }],
          },
        ],
      },
    },
    {
      label: 'an image and a PDF',
      params: {
        model: MODEL,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
              {
                type: 'document',
                source: { type: 'base64', media_type: 'application/pdf', data: document },
              },
              { type: 'text', text: 'Compare them.' },
            ],
          },
        ],
      },
    },
  ];

  it.each(prompts)('returns what /v1/messages bills as input: $label', async ({ params }) => {
    const counted = await client.messages.countTokens(params);
    const message = await client.messages.create({ ...params, max_tokens: 5 } as never);
    const usage = (message as Anthropic.Message).usage;
    expect(counted.input_tokens).toBe(
      usage.input_tokens +
        (usage.cache_read_input_tokens ?? 0) +
        (usage.cache_creation_input_tokens ?? 0),
    );
    expect(server.tally.countTokensRequests).toBe(1);
    expect(server.tally.inputTokens).toBe(counted.input_tokens);
  });

  it('prices blocks by the documented rules', async () => {
    const image = await client.messages.countTokens(prompts[4]!.params);
    expect(image.input_tokens).toBe(
      INPUT_RULES.replyPrimer +
        INPUT_RULES.perMessage +
        1 + // the 2x3 image
        INPUT_RULES.document +
        2 * INPUT_RULES.pdfPage + // two "/Type /Page" objects
        count('Compare them.'),
    );
    const withTools = await client.messages.countTokens(prompts[2]!.params);
    expect(withTools.input_tokens).toBe(
      userPromptTokens([question]) +
        INPUT_RULES.toolPromptAuto +
        INPUT_RULES.perTool +
        count('get_weather') +
        count('Current weather for a city') +
        count(JSON.stringify(tools[0]!.input_schema)),
    );
  });

  it('bills nothing and refuses a max_tokens field', async () => {
    const response = await rawPost(server, '/v1/messages/count_tokens', {
      model: MODEL,
      messages,
      max_tokens: 10,
    });
    expect(response.status).toBe(400);
    expect(response.json.error.message).toBe('max_tokens: Extra inputs are not permitted');
    await client.messages.countTokens({ model: MODEL, messages });
    expect(server.tally).toMatchObject({ requests: 0, inputTokens: 0, countTokensRequests: 1 });
  });
});

describe('streaming', () => {
  it('sends the API event sequence, pings and SSE framing included', async () => {
    const events = await rawEvents(
      server,
      { model: MODEL, max_tokens: 100, messages },
      {
        [REPLY_TOKENS_HEADER]: '3',
      },
    );
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect(e.data.type).toBe(e.event);
    const [start, blockStart] = events;
    expect(start!.data.message).toMatchObject({
      content: [],
      stop_reason: null,
      usage: { input_tokens: 14, output_tokens: 1, cache_read_input_tokens: 0 },
    });
    expect(blockStart!.data).toEqual({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '', citations: null },
    });
    expect(events.at(-2)!.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null, container: null },
      usage: {
        input_tokens: 14,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 3,
        output_tokens_details: null,
        server_tool_use: null,
      },
    });
  });

  it('answers with SSE headers and the request-id the SDK reads', async () => {
    const stream = await client.messages
      .create({ model: MODEL, max_tokens: 10, messages, stream: true })
      .withResponse();
    for await (const _event of stream.data);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.request_id).toMatch(/^req_fake_\d{6}$/);
  });

  it('streams the same reply create() returns, with the usage in message_delta', async () => {
    const plain = await create();
    const stream = await client.messages.create({
      model: MODEL,
      max_tokens: 1000,
      messages,
      stream: true,
    });
    let text = '';
    let final: Anthropic.MessageDeltaUsage | undefined;
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
        text += event.delta.text;
      if (event.type === 'message_delta') final = event.usage;
    }
    expect(text).toBe(textOf(plain));
    expect(final).toMatchObject({ input_tokens: 14, output_tokens: 40 });
    expect(server.tally).toMatchObject({ requests: 2, inputTokens: 28, outputTokens: 80 });
  });

  it('works with messages.stream() and finalMessage()', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 30, messages });
    const texts: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    const message = await stream.finalMessage();
    expect(message.usage).toMatchObject({ input_tokens: 14, output_tokens: 30 });
    expect(message.stop_reason).toBe('max_tokens');
    expect(texts.join('')).toBe(textOf(message));
    expect(count(textOf(message))).toBe(30);
    expect(server.tally.outputTokens).toBe(30);
  });

  it('puts at least tokensPerChunk tokens in each delta', async () => {
    const chunky = await startFakeAnthropic({ tokensPerChunk: 4, replyTokens: 50 });
    try {
      const events = await rawEvents(chunky, { model: MODEL, max_tokens: 100, messages });
      const deltas = events.filter((e) => e.event === 'content_block_delta');
      const sizes = deltas.map((d) => count(d.data.delta.text));
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(50);
      for (const size of sizes.slice(0, -1)) expect(size).toBeGreaterThanOrEqual(4);
      expect(deltas.length).toBeLessThanOrEqual(13);
    } finally {
      await chunky.close();
    }
  });
});

describe('extended thinking', () => {
  const thinking = { type: 'enabled', budget_tokens: 2000 } as const;

  it('returns a thinking block first and bills its tokens as output', async () => {
    const message = await create(
      { max_tokens: 4000, thinking },
      { [THINKING_TOKENS_HEADER]: '300' },
    );
    const [block, text] = message.content;
    expect(block?.type).toBe('thinking');
    expect(text?.type).toBe('text');
    if (block?.type !== 'thinking') throw new Error('no thinking block');
    expect(count(block.thinking)).toBe(300);
    expect(block.signature).toMatch(/^[A-Za-z0-9+/=]{20,}$/);
    expect(message.usage).toMatchObject({
      output_tokens: 340,
      output_tokens_details: { thinking_tokens: 300 },
    });
    expect(server.tally).toMatchObject({ outputTokens: 340, thinkingTokens: 300 });
  });

  it('caps thinking at budget_tokens and counts it against max_tokens', async () => {
    const capped = await create(
      { max_tokens: 1100, thinking: { type: 'enabled', budget_tokens: 1024 } },
      { [THINKING_TOKENS_HEADER]: '5000', [REPLY_TOKENS_HEADER]: '200' },
    );
    expect(capped.usage).toMatchObject({
      output_tokens: 1100,
      output_tokens_details: { thinking_tokens: 1024 },
    });
    expect(capped.stop_reason).toBe('max_tokens');
    expect(count(textOf(capped))).toBe(1100 - 1024);
  });

  it('streams thinking_delta events, then the signature_delta, then the text block', async () => {
    const events = await rawEvents(
      server,
      { model: MODEL, max_tokens: 4000, messages, thinking },
      { [THINKING_TOKENS_HEADER]: '6', [REPLY_TOKENS_HEADER]: '2' },
    );
    const shape = events
      .filter((e) => e.event.startsWith('content_block'))
      .map(
        (e) =>
          `${e.event}:${e.data.index}:${e.data.delta?.type ?? e.data.content_block?.type ?? ''}`,
      );
    expect(shape[0]).toBe('content_block_start:0:thinking');
    expect(shape.filter((s) => s.endsWith('thinking_delta')).length).toBeGreaterThan(0);
    const signatureAt = shape.indexOf('content_block_delta:0:signature_delta');
    expect(shape[signatureAt + 1]).toBe('content_block_stop:0:');
    expect(shape[signatureAt + 2]).toBe('content_block_start:1:text');
    expect(events.at(-2)!.data.usage).toMatchObject({
      output_tokens: 8,
      output_tokens_details: { thinking_tokens: 6 },
    });
  });

  it('bills omitted thinking the same, with an empty thinking text', async () => {
    const stream = client.messages.stream(
      { model: MODEL, max_tokens: 4000, messages, thinking: { ...thinking, display: 'omitted' } },
      { headers: { [THINKING_TOKENS_HEADER]: '500' } },
    );
    const message = await stream.finalMessage();
    expect(message.content[0]).toMatchObject({ type: 'thinking', thinking: '' });
    expect(message.usage.output_tokens).toBe(540);
    expect(server.tally).toMatchObject({ outputTokens: 540, thinkingTokens: 500 });
  });

  it('thinks with the thinkingTokens setting under adaptive thinking', async () => {
    const message = await create({ thinking: { type: 'adaptive' } });
    expect(message.usage).toMatchObject({
      output_tokens: 256 + 40,
      output_tokens_details: { thinking_tokens: 256 },
    });
  });
});

describe('tool use', () => {
  const tools: Anthropic.Tool[] = [
    {
      name: 'get_weather',
      description: 'Current weather for a city',
      input_schema: {
        type: 'object',
        properties: {
          city: { type: 'string' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['city', 'unit'],
      },
    },
    { name: 'get_time', input_schema: { type: 'object', properties: {} } },
  ];

  it('calls the first tool on a fresh question and ends the loop after the tool result', async () => {
    const first = await create({ tools });
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((b) => b.type === 'tool_use');
    if (call?.type !== 'tool_use') throw new Error('no tool call');
    expect(call).toMatchObject({
      name: 'get_weather',
      input: { city: 'sample city', unit: 'celsius' },
    });
    expect(call.id).toMatch(/^toolu_fake_/);
    const lead = textOf(first);
    expect(count(lead)).toBe(12);
    expect(first.usage.output_tokens).toBe(
      count(lead) + INPUT_RULES.toolUse + count('get_weather') + count(JSON.stringify(call.input)),
    );

    const history: Anthropic.MessageParam[] = [
      ...messages,
      { role: 'assistant', content: first.content as Anthropic.ContentBlockParam[] },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: call.id, content: '18 degrees' }],
      },
    ];
    const second = await create({ tools, messages: history });
    expect(second.stop_reason).toBe('end_turn');
    expect(second.content.every((b) => b.type === 'text')).toBe(true);
    // The tool call sent back costs as input what it cost as output.
    const counted = await client.messages.countTokens({ model: MODEL, tools, messages: history });
    expect(second.usage.input_tokens).toBe(counted.input_tokens);
  });

  it('streams the call as input_json_delta pieces the SDK reassembles', async () => {
    const message = await client.messages
      .stream({ model: MODEL, max_tokens: 500, messages, tools })
      .finalMessage();
    expect(message.content.at(-1)).toMatchObject({
      type: 'tool_use',
      input: { city: 'sample city', unit: 'celsius' },
    });
    const events = await rawEvents(server, { model: MODEL, max_tokens: 500, messages, tools });
    const json = events
      .filter((e) => e.data.delta?.type === 'input_json_delta')
      .map((e) => e.data.delta.partial_json)
      .join('');
    expect(JSON.parse(json)).toEqual({ city: 'sample city', unit: 'celsius' });
    expect(
      events.find((e) => e.data.content_block?.type === 'tool_use')!.data.content_block,
    ).toMatchObject({
      input: {},
      name: 'get_weather',
    });
  });

  it('follows tool_choice: a named tool without text, none, and forced-only servers', async () => {
    const named = await create({ tools, tool_choice: { type: 'tool', name: 'get_time' } });
    expect(named.content).toEqual([
      {
        type: 'tool_use',
        id: expect.any(String),
        name: 'get_time',
        input: {},
        caller: { type: 'direct' },
      },
    ]);
    expect(named.usage.output_tokens).toBe(INPUT_RULES.toolUse + count('get_time') + count('{}'));
    const none = await create({ tools, tool_choice: { type: 'none' } });
    expect(none.stop_reason).toBe('end_turn');
    const quiet = await startFakeAnthropic({ toolCalls: 'forced-only' });
    try {
      const c = new Anthropic({ apiKey: 'test', baseURL: quiet.baseURL, maxRetries: 0 });
      const auto = await c.messages.create({ model: MODEL, max_tokens: 300, messages, tools });
      expect(auto.stop_reason).toBe('end_turn');
      const any = await c.messages.create({
        model: MODEL,
        max_tokens: 300,
        messages,
        tools,
        tool_choice: { type: 'any' },
      });
      expect(any.stop_reason).toBe('tool_use');
    } finally {
      await quiet.close();
    }
  });

  it('drops a call that max_tokens cuts, billing the tokens generated up to the cap', async () => {
    const message = await create({ tools, max_tokens: 15 });
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.content.map((b) => b.type)).toEqual(['text']);
    expect(message.usage.output_tokens).toBe(15);
  });
});

describe('concurrency', () => {
  it('bills exactly under 200 parallel requests, streamed and not, across models', async () => {
    const models = [MODEL, 'claude-opus-4-7', 'claude-haiku-4-5'];
    const calls = Array.from({ length: 200 }, (_, i) => {
      const model = models[i % models.length]!;
      const body = { model, max_tokens: 30 + (i % 7), messages };
      return i % 2 === 0
        ? client.messages.create(body)
        : client.messages.stream(body).finalMessage();
    });
    const results = await Promise.all(calls);
    await server.settled();
    const sum = (f: (m: Anthropic.Message) => number) => results.reduce((s, m) => s + f(m), 0);
    expect(server.tally.requests).toBe(200);
    expect(server.tally.inputTokens).toBe(sum((m) => m.usage.input_tokens));
    expect(server.tally.outputTokens).toBe(sum((m) => m.usage.output_tokens));
    for (const model of models) {
      const mine = results.filter((m) => m.model === model);
      expect(server.tally.byModel[model]).toMatchObject({
        requests: mine.length,
        outputTokens: mine.reduce((s, m) => s + m.usage.output_tokens, 0),
      });
    }
  });
});

describe('routing, models and keys', () => {
  it.each(['claude-unknown-9', '__proto__', 'constructor', 'toString'])(
    'answers model %j with 404 not_found_error',
    async (model) => {
      const error = await create({ model }).catch((e) => e);
      expect(error).toBeInstanceOf(Anthropic.NotFoundError);
      expect(error.type).toBe('not_found_error');
      expect(error.error).toEqual({
        type: 'error',
        error: { type: 'not_found_error', message: `model: ${model}` },
        request_id: error.requestID,
      });
      expect(server.tally.requests).toBe(0);
    },
  );

  it('accepts unknown models when told to, with default limits', async () => {
    const open = await startFakeAnthropic({ acceptUnknownModels: true, replyTokens: 2 });
    try {
      const c = new Anthropic({ apiKey: 'test', baseURL: open.baseURL, maxRetries: 0 });
      const m = await c.messages.create({ model: 'claude-next', max_tokens: 10, messages });
      expect(m.usage).toMatchObject({ input_tokens: 14, output_tokens: 2 });
      await expect(
        c.messages.create({ model: '__proto__', max_tokens: 10, messages }),
      ).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    } finally {
      await open.close();
    }
  });

  it('checks the x-api-key when one is configured', async () => {
    const locked = await startFakeAnthropic({ apiKey: 'sk-right' });
    try {
      const wrong = new Anthropic({ apiKey: 'sk-wrong', baseURL: locked.baseURL, maxRetries: 0 });
      const error = await wrong.messages
        .create({ model: MODEL, max_tokens: 5, messages })
        .catch((e) => e);
      expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
      expect(error.type).toBe('authentication_error');
      const right = new Anthropic({ apiKey: 'sk-right', baseURL: locked.baseURL, maxRetries: 0 });
      await expect(
        right.messages.create({ model: MODEL, max_tokens: 5, messages }),
      ).resolves.toBeTruthy();
      expect(locked.tally.requests).toBe(1);
    } finally {
      await locked.close();
    }
  });

  it('answers unknown routes, missing anthropic-version and broken JSON like the API', async () => {
    const route = await rawPost(server, '/v1/complete', {});
    expect(route.status).toBe(404);
    expect(route.json).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(route.headers.get('request-id')).toBe(route.json.request_id);
    const version = await rawPost(
      server,
      '/v1/messages',
      { model: MODEL, max_tokens: 5, messages },
      {},
    );
    expect(version.status).toBe(400);
    expect(version.json.error).toEqual({
      type: 'invalid_request_error',
      message: 'anthropic-version: header is required',
    });
    const broken = await rawPost(server, '/v1/messages', '{"model":');
    expect(broken.status).toBe(400);
    expect(broken.json.error.type).toBe('invalid_request_error');
    expect(server.tally.requests).toBe(0);
    expect(server.requests).toHaveLength(3);
  });
});
