import type { ResponseInput, Tool } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import {
  countChatTokens,
  countResponsesInput,
  countTokens,
  DEFAULT_IMAGE_TOKENS,
} from '../../../lib/counting/index.js';

const MODEL = 'gpt-4o';
const t = (text: string): number => countTokens(text, MODEL);

describe('countResponsesInput', () => {
  it('prices a string input like a one-message chat', () => {
    expect(countResponsesInput({ model: MODEL, input: 'Tell me a joke.' })).toBe(
      countChatTokens({ model: MODEL, messages: [{ role: 'user', content: 'Tell me a joke.' }] }),
    );
  });

  it('prices instructions like a developer message', () => {
    expect(
      countResponsesInput({ model: MODEL, input: 'Hi', instructions: 'Answer in French.' }),
    ).toBe(
      countChatTokens({
        model: MODEL,
        messages: [
          { role: 'developer', content: 'Answer in French.' },
          { role: 'user', content: 'Hi' },
        ],
      }),
    );
  });

  it('prices flat function tools exactly like the nested Chat tools', () => {
    const parameters = {
      type: 'object',
      properties: {
        location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
    };
    const description = 'Get the current weather in a given location';
    const flat: Tool[] = [
      { type: 'function', name: 'get_current_weather', description, parameters, strict: false },
    ];
    const input = 'Weather in Paris?';
    expect(countResponsesInput({ model: MODEL, input, tools: flat })).toBe(
      countChatTokens({
        model: MODEL,
        messages: [{ role: 'user', content: input }],
        tools: [
          {
            type: 'function',
            function: { name: 'get_current_weather', description, parameters },
          },
        ],
      }),
    );
  });

  it('counts message, function-call, output, reasoning and reference items', () => {
    const input: ResponseInput = [
      { role: 'user', content: 'What is 2+2?' },
      {
        type: 'message',
        role: 'user',
        content: [
          { type: 'input_text', text: 'See image' },
          { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'auto' },
          { type: 'input_file', file_id: 'file-1' },
        ],
      },
      {
        type: 'reasoning',
        id: 'rs_1',
        summary: [{ type: 'summary_text', text: 'Adding numbers.' }],
        encrypted_content: 'gAAAAB…opaque',
      },
      {
        type: 'function_call',
        call_id: 'call_1',
        name: 'add',
        arguments: '{"a":2,"b":2}',
      },
      { type: 'function_call_output', call_id: 'call_1', output: '4' },
      { type: 'item_reference', id: 'msg_123' },
      { type: null, id: 'msg_456' },
    ];
    expect(countResponsesInput({ model: MODEL, input })).toBe(
      3 +
        (3 + t('user') + t('What is 2+2?')) +
        (3 + t('user') + t('See image') + DEFAULT_IMAGE_TOKENS) +
        (3 + t('Adding numbers.')) +
        (3 + t('call_1') + t('add') + t('{"a":2,"b":2}')) +
        (3 + t('call_1') + t('4')) +
        0,
    );
  });

  it('counts the strings of unknown item types and built-in tools', () => {
    const input = [
      { type: 'web_search_call', id: 'ws_1', status: 'completed' },
    ] as unknown as ResponseInput;
    // Every key and string, as JSON: 2 tokens per member, 1 per container.
    const member = (key: string, value: string) => t(key) + 2 + t(value);
    expect(countResponsesInput({ model: MODEL, input })).toBe(
      3 +
        3 +
        1 +
        member('type', 'web_search_call') +
        member('id', 'ws_1') +
        member('status', 'completed'),
    );
    const tools: Tool[] = [{ type: 'web_search' }];
    expect(countResponsesInput({ model: MODEL, input: '', tools })).toBe(
      3 + 3 + t('user') + 12 + 7 + 1 + member('type', 'web_search'),
    );
  });

  it('never throws on malformed input from untyped callers', () => {
    const request = {
      model: MODEL,
      input: [null, 1, { type: 'message', content: 5 }, { type: 'reasoning', summary: 'x' }],
      instructions: 42,
      tools: [null, { type: 'function', parameters: null }],
    } as unknown as Parameters<typeof countResponsesInput>[0];
    expect(() => countResponsesInput(request)).not.toThrow();
    for (const bad of [{ model: MODEL, input: undefined }, null, undefined, 7]) {
      expect(countResponsesInput(bad as unknown as Parameters<typeof countResponsesInput>[0])).toBe(
        3,
      );
    }
  });
});
