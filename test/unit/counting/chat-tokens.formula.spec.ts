import type {
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import {
  countChatTokens,
  countTokens,
  DEFAULT_IMAGE_TOKENS,
  estimateTokens,
  TokenCounter,
  type ChatMessage,
} from '../../../lib/counting/index.js';

const MODEL = 'gpt-4o';
const t = (text: string): number => countTokens(text, MODEL);
/** Tokens of a request with no messages: only the reply priming. */
const EMPTY = countChatTokens({ model: MODEL, messages: [] });

describe('countChatTokens beyond the cookbook examples', () => {
  it('is 3 for reply priming plus 3 + role + content per message', () => {
    expect(EMPTY).toBe(3);
    const messages: ChatMessage[] = [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: 'Hi there' },
    ];
    expect(countChatTokens({ model: MODEL, messages })).toBe(
      3 + (3 + t('developer') + t('Be brief.')) + (3 + t('user') + t('Hi there')),
    );
  });

  it('adds name + 1 for a named message', () => {
    const plain = countChatTokens({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
    const named = countChatTokens({
      model: MODEL,
      messages: [{ role: 'user', name: 'alice_1', content: 'x' }],
    });
    expect(named - plain).toBe(t('alice_1') + 1);
  });

  it('counts every text part of array content like the same text as separate strings', () => {
    const parts = countChatTokens({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'First part.' },
            { type: 'text', text: 'Second part.' },
          ],
        },
      ],
    });
    expect(parts).toBe(3 + 3 + t('user') + t('First part.') + t('Second part.'));
  });

  it('counts each image part as a fixed, configurable estimate', () => {
    const image = {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      ],
    } as const;
    const base = 3 + 3 + t('user') + t('What is this?');
    expect(countChatTokens({ model: MODEL, messages: [image] })).toBe(
      base + 2 * DEFAULT_IMAGE_TOKENS,
    );
    const counter = new TokenCounter({ imageTokens: 85 });
    expect(counter.countChat({ model: MODEL, messages: [image] })).toBe(base + 2 * 85);
  });

  it('counts 0 for audio and file parts, whose cost the request does not spell out', () => {
    const messages: ChatCompletionMessageParam[] = [
      {
        role: 'user',
        content: [
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'file', file: { file_id: 'file-abc' } },
        ],
      },
    ];
    const withAudio = countChatTokens({ model: MODEL, messages });
    expect(withAudio).toBe(3 + 3 + t('user'));
  });

  it('counts assistant tool calls and tool results by their strings', () => {
    const messages: ChatMessage[] = [
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_abc123',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          {
            id: 'call_def456',
            type: 'function',
            function: { name: 'get_time', arguments: '{"tz":"CET"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_abc123', content: '{"temp_c":21}' },
    ];
    const call = (id: string, name: string, args: string): number => 3 + t(id) + t(name) + t(args);
    expect(countChatTokens({ model: MODEL, messages })).toBe(
      3 +
        (3 +
          t('assistant') +
          call('call_abc123', 'get_weather', '{"city":"Paris"}') +
          call('call_def456', 'get_time', '{"tz":"CET"}')) +
        (3 + t('tool') + t('call_abc123') + t('{"temp_c":21}')),
    );
  });

  it('counts custom tool calls, legacy function calls and refusals', () => {
    const messages: ChatMessage[] = [
      {
        role: 'assistant',
        tool_calls: [{ id: 'c1', type: 'custom', custom: { name: 'sql', input: 'SELECT 1' } }],
      },
      { role: 'assistant', function_call: { name: 'f', arguments: '{}' } },
      { role: 'function', name: 'f', content: 'ok' },
      { role: 'assistant', refusal: 'I cannot help with that.' },
      { role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }] },
    ];
    expect(countChatTokens({ model: MODEL, messages })).toBe(
      3 +
        (3 + t('assistant') + 3 + t('c1') + t('sql') + t('SELECT 1')) +
        (3 + t('assistant') + t('f') + t('{}')) +
        (3 + t('function') + t('ok') + t('f') + 1) +
        (3 + t('assistant') + t('I cannot help with that.')) +
        (3 + t('assistant') + t('No.')),
    );
  });

  it('counts nested tool parameters, which the cookbook formula ignores', () => {
    const flat: ChatCompletionTool = {
      type: 'function',
      function: {
        name: 'create_order',
        description: 'Create an order.',
        parameters: { type: 'object', properties: { customer: { type: 'object' } } },
      },
    };
    const nested: ChatCompletionTool = {
      type: 'function',
      function: {
        ...flat.function,
        parameters: {
          type: 'object',
          properties: {
            customer: {
              type: 'object',
              properties: {
                email: { type: 'string', description: 'Contact email.' },
                tier: { type: 'string', enum: ['free', 'pro'] },
              },
            },
          },
        },
      },
    };
    const messages: ChatMessage[] = [];
    const extra =
      countChatTokens({ model: MODEL, messages, tools: [nested] }) -
      countChatTokens({ model: MODEL, messages, tools: [flat] });
    // The formula reads top-level properties only; the nested `properties` member is added on top
    // as its JSON: every key and string, 2 tokens per member, 1 per element and per container.
    const member = (key: string, value: number) => t(key) + 2 + value;
    const email = 1 + member('type', t('string')) + member('description', t('Contact email.'));
    const tierEnum = 1 + (1 + t('free')) + (1 + t('pro'));
    const tier = 1 + member('type', t('string')) + member('enum', tierEnum);
    const properties = 1 + member('email', email) + member('tier', tier);
    expect(extra).toBe(1 + member('properties', properties));
  });

  it('counts custom tools by name, description and format strings', () => {
    const tools: ChatCompletionTool[] = [
      {
        type: 'custom',
        custom: {
          name: 'run_sql',
          description: 'Runs SQL.',
          format: { type: 'grammar', grammar: { syntax: 'lark', definition: 'start: "SELECT"' } },
        },
      },
    ];
    // max(formula, the strings it reads counted one by one) + the format as JSON (see above).
    const formula = 7 + t('run_sql:Runs SQL');
    const strings = ['type', 'custom', 'custom', 'name', 'run_sql', 'description', 'Runs SQL.'];
    const read = strings.reduce((sum, text) => sum + t(text), 0);
    const member = (key: string, value: number) => t(key) + 2 + value;
    const grammar = 1 + member('syntax', t('lark')) + member('definition', t('start: "SELECT"'));
    const format = 1 + member('type', t('grammar')) + member('grammar', grammar);
    expect(countChatTokens({ model: MODEL, messages: [], tools })).toBe(
      3 + 12 + Math.max(formula, read) + 1 + member('format', format),
    );
  });

  it('uses the cl100k tool constants for cl100k models', () => {
    const tools: ChatCompletionTool[] = [
      {
        type: 'function',
        function: { name: 'noop', parameters: { type: 'object', properties: {} } },
      },
    ];
    expect(countChatTokens({ model: 'gpt-4', messages: [], tools })).toBe(
      3 + 12 + 10 + countTokens('noop:', 'gpt-4'),
    );
    expect(countChatTokens({ model: 'gpt-4o', messages: [], tools })).toBe(3 + 12 + 7 + t('noop:'));
  });

  it('estimates with the same formula for models without a known encoding', () => {
    const model = 'claude-3-5-sonnet';
    const messages: ChatMessage[] = [{ role: 'user', content: 'Bonjour, ça va ?' }];
    expect(countChatTokens({ model, messages })).toBe(
      3 + 3 + estimateTokens('user') + estimateTokens('Bonjour, ça va ?'),
    );
  });

  it('accepts the OpenAI SDK param types as they are', () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { role: 'assistant', content: 'hello', tool_calls: [] },
      { role: 'tool', tool_call_id: 'x', content: 'r' },
    ];
    const tools: ChatCompletionTool[] = [
      { type: 'function', function: { name: 'f', description: 'd', parameters: {} } },
    ];
    expect(countChatTokens({ model: MODEL, messages, tools })).toBeGreaterThan(EMPTY);
  });

  it('never throws on malformed input from untyped callers', () => {
    const junk = [
      null,
      42,
      'text',
      [],
      { role: 42, content: { nested: true } },
      { role: 'user', content: [null, 7, { type: 'text', text: 5 }, 'loose string'] },
      { role: 'assistant', tool_calls: [null, { function: null }, { custom: { name: 1 } }] },
      { role: 'tool', tool_call_id: null, content: undefined },
    ];
    const tools = [
      null,
      'x',
      { type: 'function' },
      { type: 'function', function: { parameters: [] } },
    ];
    const request = { model: MODEL, messages: junk, tools } as unknown as Parameters<
      typeof countChatTokens
    >[0];
    expect(() => countChatTokens(request)).not.toThrow();
    for (const bad of [{ model: undefined, messages: undefined }, null, undefined, 'x']) {
      expect(countChatTokens(bad as unknown as Parameters<typeof countChatTokens>[0])).toBe(3);
    }
  });
});
