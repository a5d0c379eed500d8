import { describe, expect, it } from 'vitest';
import { countChatTokens, countTokens, TokenCounter } from '../../../lib/counting/index.js';
import type { ChatMessage, ChatTool } from '../../../lib/counting/index.js';

// Every expected number below is printed in the OpenAI cookbook notebook "How to count tokens
// with tiktoken" (examples/How_to_count_tokens_with_tiktoken.ipynb), where each count from the
// formula is shown next to the `usage.prompt_tokens` the API returned for the same request.

// Section 6, "Counting tokens for chat completions API calls".
const CHAT_EXAMPLE: ChatMessage[] = [
  {
    role: 'system',
    content:
      'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.',
  },
  {
    role: 'system',
    name: 'example_user',
    content: 'New synergies will help drive top-line growth.',
  },
  {
    role: 'system',
    name: 'example_assistant',
    content: 'Things working well together will increase revenue.',
  },
  {
    role: 'system',
    name: 'example_user',
    content:
      "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  {
    role: 'system',
    name: 'example_assistant',
    content: "Let's talk later when we're less busy about how to do better.",
  },
  {
    role: 'user',
    content:
      "This late pivot means we don't have time to boil the ocean for the client deliverable.",
  },
];

// Section 7, "Counting tokens for chat completions with tool calls".
const TOOLS_EXAMPLE: ChatTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_current_weather',
      description: 'Get the current weather in a given location',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
          unit: {
            type: 'string',
            description: 'The unit of temperature to return',
            enum: ['celsius', 'fahrenheit'],
          },
        },
        required: ['location'],
      },
    },
  },
];
const TOOLS_MESSAGES: ChatMessage[] = [
  {
    role: 'system',
    content: 'You are a helpful assistant that can answer to questions about the weather.',
  },
  { role: 'user', content: "What's the weather like in San Francisco?" },
];

const BACKENDS = ['gpt-tokenizer', 'js-tiktoken'] as const;

describe('OpenAI cookbook published examples', () => {
  it.each([
    ['gpt-3.5-turbo', 129],
    ['gpt-4-0613', 129],
    ['gpt-4', 129],
    ['gpt-4o', 124],
    ['gpt-4o-mini', 124],
  ])('chat example on %s: %i prompt tokens (formula and API agree)', (model, published) => {
    expect(countChatTokens({ model, messages: CHAT_EXAMPLE })).toBe(published);
  });

  it.each([
    ['gpt-3.5-turbo', 105],
    ['gpt-4', 105],
    ['gpt-4o', 101],
    ['gpt-4o-mini', 101],
  ])('tool-calling example on %s: %i prompt tokens', (model, published) => {
    expect(countChatTokens({ model, messages: TOOLS_MESSAGES, tools: TOOLS_EXAMPLE })).toBe(
      published,
    );
  });

  it.each(BACKENDS)('gives the same published counts with the %s backend', (backend) => {
    const counter = new TokenCounter({ backend, cacheSize: 0 });
    expect(counter.countChat({ model: 'gpt-4', messages: CHAT_EXAMPLE })).toBe(129);
    expect(counter.countChat({ model: 'gpt-4o', messages: CHAT_EXAMPLE })).toBe(124);
    expect(
      counter.countChat({ model: 'gpt-3.5-turbo', messages: TOOLS_MESSAGES, tools: TOOLS_EXAMPLE }),
    ).toBe(105);
    expect(
      counter.countChat({ model: 'gpt-4o-mini', messages: TOOLS_MESSAGES, tools: TOOLS_EXAMPLE }),
    ).toBe(101);
  });

  // Sections 3 and 5: single strings per encoding.
  it.each([
    ['tiktoken is great!', 'gpt-4o', 6],
    ['antidisestablishmentarianism', 'gpt-4', 6],
    ['antidisestablishmentarianism', 'gpt-4o', 6],
    ['2 + 2 = 4', 'gpt-4', 7],
    ['2 + 2 = 4', 'gpt-4o', 7],
    ['お誕生日おめでとう', 'gpt-4', 9],
    ['お誕生日おめでとう', 'gpt-4o', 8],
  ])('"%s" on %s: %i tokens', (text, model, published) => {
    expect(countTokens(text, model)).toBe(published);
    for (const backend of BACKENDS) {
      expect(new TokenCounter({ backend }).count(text, model)).toBe(published);
    }
  });
});
