import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  startFakeAnthropic,
  type FakeAnthropicOptions,
  type FakeAnthropicServer,
} from '../../../../lib/testing/index.js';
import { MODEL, rawPost } from './anthropic.fixture.js';

let server: FakeAnthropicServer;

beforeAll(async () => {
  server = await startFakeAnthropic({ replyTokens: 5 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const user = (content: unknown) => ({ role: 'user', content });
const assistant = (content: unknown) => ({ role: 'assistant', content });
const valid = { model: MODEL, max_tokens: 100, messages: [user('Hi')] };
const weather = {
  name: 'get_weather',
  input_schema: { type: 'object', properties: { city: { type: 'string' } } },
};
const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } };
const toolResult = { type: 'tool_result', tool_use_id: 'toolu_1', content: 'cold' };
const cc = { type: 'ephemeral' };

// Each body is refused with 400 invalid_request_error and a message naming the problem, and the
// fake bills nothing for it.
const invalid: Array<[string, Record<string, unknown>, string]> = [
  ['no model', { max_tokens: 5, messages: [user('Hi')] }, 'model: Field required'],
  ['a numeric model', { ...valid, model: 42 }, 'model: Input should be a valid string'],
  ['no max_tokens', { model: MODEL, messages: [user('Hi')] }, 'max_tokens: Field required'],
  [
    'a fractional max_tokens',
    { ...valid, max_tokens: 1.5 },
    'max_tokens: Input should be a valid integer',
  ],
  [
    'a string max_tokens',
    { ...valid, max_tokens: '10' },
    'max_tokens: Input should be a valid integer',
  ],
  [
    'a negative max_tokens',
    { ...valid, max_tokens: -1 },
    'max_tokens: Input should be greater than or equal to 0',
  ],
  ['no messages', { model: MODEL, max_tokens: 5 }, 'messages: Field required'],
  ['empty messages', { ...valid, messages: [] }, 'messages: at least one message is required'],
  ['an unknown field', { ...valid, temperatur: 1 }, 'temperatur: Extra inputs are not permitted'],
  [
    'a bad role',
    { ...valid, messages: [{ role: 'bot', content: 'x' }] },
    "messages.0.role: Input should be 'user', 'assistant' or 'system'",
  ],
  ['no content', { ...valid, messages: [{ role: 'user' }] }, 'messages.0.content: Field required'],
  [
    'empty user content',
    { ...valid, messages: [user('')] },
    'messages.0: all messages must have non-empty content',
  ],
  [
    'a numeric content',
    { ...valid, messages: [user(7)] },
    'messages.0.content: Input should be a valid string or list',
  ],
  [
    'an unknown block type',
    { ...valid, messages: [user([{ type: 'video' }])] },
    'messages.0.content.0.type: Input tag "video" found',
  ],
  [
    'an empty text block',
    { ...valid, messages: [user([{ type: 'text', text: ' ' }])] },
    'text content blocks must contain non-whitespace text',
  ],
  [
    'a text block without text',
    { ...valid, messages: [user([{ type: 'text' }])] },
    'messages.0.content.0.text: Field required',
  ],
  [
    'a tool_use from the user',
    { ...valid, messages: [user([toolUse])] },
    '`tool_use` blocks are not allowed in `user` messages',
  ],
  [
    'an image from the assistant',
    {
      ...valid,
      messages: [user('Hi'), assistant([{ type: 'image', source: { type: 'url', url: 'x' } }])],
    },
    '`image` blocks are not allowed in `assistant` messages',
  ],
  [
    'an image of a bad media type',
    {
      ...valid,
      messages: [
        user([{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'AA' } }]),
      ],
    },
    'messages.0.content.0.source.media_type',
  ],
  [
    'a document that is not a PDF',
    {
      ...valid,
      messages: [
        user([
          { type: 'document', source: { type: 'base64', media_type: 'text/html', data: 'AA' } },
        ]),
      ],
    },
    "media_type: Input should be 'application/pdf'",
  ],
  [
    'a tool_use without input',
    { ...valid, messages: [user('Hi'), assistant([{ type: 'tool_use', id: 'a', name: 'b' }])] },
    'messages.1.content.0.input: Input should be a valid dictionary',
  ],
  [
    'a tool_use left unanswered',
    { ...valid, messages: [user('Hi'), assistant([toolUse]), user('and?')] },
    'messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1',
  ],
  [
    'an orphan tool_result',
    { ...valid, messages: [user([toolResult])] },
    'messages.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1',
  ],
  [
    'text before a tool_result',
    {
      ...valid,
      messages: [user('Hi'), assistant([toolUse]), user([{ type: 'text', text: 'x' }, toolResult])],
    },
    '`tool_result` blocks must come first',
  ],
  [
    'a thinking block without signature',
    {
      ...valid,
      messages: [user('Hi'), assistant([{ type: 'thinking', thinking: 'hm' }]), user('ok')],
    },
    'messages.1.content.0.signature: Field required',
  ],
  [
    'a prefill ending in whitespace',
    { ...valid, messages: [user('Hi'), assistant('Sure ')] },
    'final assistant content cannot end with trailing whitespace',
  ],
  [
    'a system of the wrong type',
    { ...valid, system: 3 },
    'system: Input should be a valid string or list',
  ],
  [
    'a system image',
    { ...valid, system: [{ type: 'image' }] },
    "system.0.type: Input should be 'text'",
  ],
  [
    'a tool without input_schema',
    { ...valid, tools: [{ name: 'x' }] },
    'tools.0.input_schema: Input should be a valid dictionary',
  ],
  [
    'a tool schema that is not an object',
    { ...valid, tools: [{ name: 'x', input_schema: { type: 'string' } }] },
    "tools.0.input_schema.type: Input should be 'object'",
  ],
  [
    'a tool with a bad name',
    { ...valid, tools: [{ ...weather, name: 'get weather' }] },
    'tools.0.name: String should match pattern',
  ],
  [
    'duplicate tool names',
    { ...valid, tools: [weather, weather] },
    'tools: Tool names must be unique',
  ],
  [
    'a bad tool_choice',
    { ...valid, tools: [weather], tool_choice: { type: 'sometimes' } },
    "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
  ],
  [
    'a tool_choice naming no tool',
    { ...valid, tools: [weather], tool_choice: { type: 'tool', name: 'nope' } },
    'tool_choice.name: Tool "nope" not found in provided tools',
  ],
  [
    'a forced tool_choice without tools',
    { ...valid, tool_choice: { type: 'any' } },
    'tool_choice may only be specified while providing tools',
  ],
  [
    'a thinking budget below 1024',
    { ...valid, max_tokens: 5000, thinking: { type: 'enabled', budget_tokens: 1023 } },
    'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024',
  ],
  [
    'a thinking budget at max_tokens',
    { ...valid, max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 2000 } },
    '`max_tokens` must be greater than `thinking.budget_tokens`',
  ],
  [
    'a thinking budget that is not an integer',
    { ...valid, max_tokens: 5000, thinking: { type: 'enabled', budget_tokens: 2000.5 } },
    'thinking.enabled.budget_tokens: Input should be a valid integer',
  ],
  [
    'thinking without a budget',
    { ...valid, thinking: { type: 'enabled' } },
    'thinking.enabled.budget_tokens: Field required',
  ],
  [
    'an unknown thinking type',
    { ...valid, thinking: { type: 'deep' } },
    "thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'",
  ],
  [
    'thinking with a forced tool',
    {
      ...valid,
      max_tokens: 5000,
      tools: [weather],
      tool_choice: { type: 'any' },
      thinking: { type: 'enabled', budget_tokens: 1024 },
    },
    'Thinking may not be enabled when tool_choice forces tool use.',
  ],
  [
    'thinking with temperature 0.5',
    { ...valid, max_tokens: 5000, temperature: 0.5, thinking: { type: 'adaptive' } },
    '`temperature` may only be set to 1 when thinking is enabled.',
  ],
  [
    'a temperature above 1',
    { ...valid, temperature: 1.5 },
    'temperature: Input should be between 0 and 1',
  ],
  [
    'a whitespace stop sequence',
    { ...valid, stop_sequences: ['  '] },
    'stop_sequences.0: stop sequences must contain non-whitespace',
  ],
  [
    'stop sequences as a string',
    { ...valid, stop_sequences: 'STOP' },
    'stop_sequences: Input should be a valid list',
  ],
  [
    'metadata with an extra key',
    { ...valid, metadata: { user_id: 'u', email: 'x' } },
    'metadata.email: Extra inputs are not permitted',
  ],
  ['a non-boolean stream', { ...valid, stream: 'yes' }, 'stream: Input should be a valid boolean'],
  [
    'a bad cache_control type',
    {
      ...valid,
      messages: [user([{ type: 'text', text: 'x', cache_control: { type: 'persistent' } }])],
    },
    "messages.0.content.0.cache_control.type: Input should be 'ephemeral'",
  ],
  [
    'a bad cache ttl',
    {
      ...valid,
      system: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '10m' } }],
    },
    "system.0.cache_control.ttl: Input should be '5m' or '1h'",
  ],
  [
    'five cache breakpoints',
    {
      ...valid,
      system: [1, 2, 3, 4, 5].map((i) => ({ type: 'text', text: `part ${i}`, cache_control: cc })),
    },
    'A maximum of 4 blocks with cache_control may be provided. Found 5.',
  ],
  [
    'a 1h breakpoint after a 5m one',
    {
      ...valid,
      system: [
        { type: 'text', text: 'a', cache_control: cc },
        { type: 'text', text: 'b', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ],
    },
    "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block",
  ],
  [
    'cache_control on a thinking block',
    {
      ...valid,
      messages: [
        user('Hi'),
        assistant([{ type: 'thinking', thinking: 'hm', signature: 's', cache_control: cc }]),
        user('ok'),
      ],
    },
    'messages.1.content.0.cache_control: Extra inputs are not permitted',
  ],
];

describe('POST /v1/messages validation', () => {
  it.each(invalid)('refuses %s', async (_label, body, message) => {
    const response = await rawPost(server, '/v1/messages', body);
    expect(response.status).toBe(400);
    expect(response.json).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining(message) },
      request_id: response.headers.get('request-id'),
    });
    expect(server.tally.requests).toBe(0);
  });

  it.each([
    ['consecutive user turns (merged by the API)', { ...valid, messages: [user('a'), user('b')] }],
    ['a prefill', { ...valid, messages: [user('Hi'), assistant('The answer is')] }],
    ['an empty final assistant turn', { ...valid, messages: [user('Hi'), assistant('')] }],
    [
      'a system string and system messages',
      {
        ...valid,
        system: 'Be brief.',
        messages: [{ role: 'system', content: 'Note.' }, user('Hi')],
      },
    ],
    [
      'a tool round trip',
      {
        ...valid,
        tools: [weather],
        messages: [
          user('Hi'),
          assistant([toolUse]),
          user([toolResult, { type: 'text', text: 'thanks' }]),
        ],
      },
    ],
    [
      'a server tool',
      { ...valid, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }] },
    ],
    [
      'documented optional fields',
      {
        ...valid,
        metadata: { user_id: 'u-1' },
        stop_sequences: ['END'],
        temperature: 0.2,
        top_p: 0.9,
        top_k: 5,
        service_tier: 'auto',
        inference_geo: null,
        speed: 'standard',
        output_config: { effort: 'low' },
      },
    ],
    [
      'thinking with budget below max_tokens',
      { ...valid, max_tokens: 1025, thinking: { type: 'enabled', budget_tokens: 1024 } },
    ],
    [
      'thinking disabled with a forced tool',
      { ...valid, tools: [weather], tool_choice: { type: 'any' }, thinking: { type: 'disabled' } },
    ],
    [
      'four breakpoints, 1h before 5m',
      {
        ...valid,
        system: [
          { type: 'text', text: 'a', cache_control: { type: 'ephemeral', ttl: '1h' } },
          { type: 'text', text: 'b', cache_control: cc },
        ],
        tools: [{ ...weather, cache_control: { type: 'ephemeral', ttl: '1h' } }],
        messages: [user([{ type: 'text', text: 'x', cache_control: cc }])],
      },
    ],
  ])('accepts %s', async (_label, body) => {
    const response = await rawPost(server, '/v1/messages', body);
    expect(response.json).toMatchObject({ type: 'message' });
    expect(response.status).toBe(200);
  });
});

describe('startFakeAnthropic options', () => {
  it.each<[string, FakeAnthropicOptions, RegExp | string]>([
    [
      'an unknown option',
      { replyToken: 5 } as FakeAnthropicOptions,
      'startFakeAnthropic: unknown option "replyToken"',
    ],
    [
      'an unknown model option',
      { models: { m: { reply_tokens: 1 } as never } },
      'unknown option "models[\\"m\\"].reply_tokens"',
    ],
    [
      'a string number',
      { replyTokens: '5' as never },
      'startFakeAnthropic: replyTokens must be a number, got "5"',
    ],
    [
      'a negative number',
      { latencyMs: -1 },
      'startFakeAnthropic: latencyMs must be an integer >= 0, got -1',
    ],
    ['a fraction', { thinkingTokens: 1.5 }, 'thinkingTokens must be an integer >= 0, got 1.5'],
    [
      'zero tokens per chunk',
      { tokensPerChunk: 0 },
      'tokensPerChunk must be an integer >= 1, got 0',
    ],
    ['a port out of range', { port: 70_000 }, 'port must be an integer 0-65535, got 70000'],
    [
      'a string boolean',
      { promptCaching: 'false' as never },
      'promptCaching must be a boolean, got "false"',
    ],
    [
      'an unknown billing mode',
      { abortBilling: 'some' as never },
      `abortBilling must be 'generated' or 'full', got "some"`,
    ],
    [
      'an unknown tool mode',
      { toolCalls: 'always' as never },
      `toolCalls must be 'first-turn' or 'forced-only'`,
    ],
    ['an empty reply', { reply: '' }, 'reply must be a non-empty string, got ""'],
    ['a clock that is not a function', { now: 5 as never }, 'now must be a function, got 5'],
    ['models as an array', { models: [] as never }, 'models must be an object, got an array'],
    [
      'a model named __proto__',
      { models: JSON.parse('{"__proto__": {"replyTokens": 1}}') },
      'models cannot name "__proto__"',
    ],
    [
      'a model named constructor',
      { models: { constructor: { replyTokens: 1 } } as never },
      'models cannot name "constructor"',
    ],
    [
      'a literal __proto__ key',
      { models: { __proto__: { replyTokens: 1 } } as never },
      'models must be a plain object',
    ],
    [
      'a bad tokenizer',
      { models: { m: { tokenizer: 'gpt' as never } } },
      `tokenizer must be 'claude-3' or 'claude-4.7'`,
    ],
    [
      'a zero context window',
      { models: { m: { contextWindow: 0 } } },
      'models["m"].contextWindow must be an integer >= 1, got 0',
    ],
    ['a host that is not a string', { host: 7 as never }, 'host must be a non-empty string, got 7'],
    ['options that are not an object', 'fast' as never, 'options must be an object, got "fast"'],
  ])('rejects %s', async (_label, options, message) => {
    await expect(startFakeAnthropic(options)).rejects.toThrow(message);
  });

  it('cuts a long quoted value to 64 characters', async () => {
    const error = await startFakeAnthropic({ [`x${'y'.repeat(100)}`]: 1 } as never).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe(`startFakeAnthropic: unknown option "x${'y'.repeat(63)}…"`);
  });

  it('uses RangeError for values out of range and TypeError for wrong types', async () => {
    await expect(startFakeAnthropic({ latencyMs: -5 })).rejects.toBeInstanceOf(RangeError);
    await expect(startFakeAnthropic({ latencyMs: '5' as never })).rejects.toBeInstanceOf(TypeError);
  });
});
