import Anthropic from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../../../lib/counting/index.js';
import { estimateClaudeTokens } from '../../../lib/providers/anthropic/claude-text.estimator.js';
import { tokenizerGeneration } from '../../../lib/providers/anthropic/claude-tokenizer.generation.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { countClaudeTokens } from '../../../lib/testing/anthropic/claude-token.counter.js';
import { type FakeAnthropicServer, startFakeAnthropic } from '../../../lib/testing/index.js';
import { CORPUS } from '../counting/token-corpus.fixture.js';
import {
  nestedObjectSchema,
  PYDANTIC_SCHEMA,
  ZOD_SCHEMA,
} from '../counting/schema-corpus.fixture.js';

// The measurements behind docs/anthropic.md ("Counting"): the estimator against the testing kit's
// independent Claude counter (both tokenizer generations) and against Anthropic's published
// figures. Run with TOKENCAP_PRINT=1 to print the tables.
const print = process.env.TOKENCAP_PRINT === '1';

const SAMPLES = [
  ...CORPUS.filter((s) => s.text.length > 0),
  { kind: 'schema-pydantic', text: JSON.stringify(PYDANTIC_SCHEMA) },
  { kind: 'schema-zod', text: JSON.stringify(ZOD_SCHEMA) },
  { kind: 'schema-nested', text: JSON.stringify(nestedObjectSchema(6)) },
];

describe('estimateClaudeTokens on the corpus', () => {
  it('is never below the reference counter, for either tokenizer generation', () => {
    const rows: string[] = [];
    const ratios = { classic: [] as number[], dense: [] as number[] };
    for (const { kind, text } of SAMPLES) {
      const classic = estimateClaudeTokens(text, 'classic');
      const dense = estimateClaudeTokens(text, 'dense');
      const c3 = countClaudeTokens(text, 'claude-3');
      const c47 = countClaudeTokens(text, 'claude-4.7');
      expect(classic, kind).toBeGreaterThanOrEqual(c3);
      expect(dense, kind).toBeGreaterThanOrEqual(c47);
      expect(dense, kind).toBeGreaterThanOrEqual(classic);
      ratios.classic.push(classic / c3);
      ratios.dense.push(dense / c47);
      rows.push(
        `${kind.padEnd(20)} classic ${(classic / c3).toFixed(2)}  dense ${(dense / c47).toFixed(2)}`,
      );
    }
    if (print) console.log(rows.join('\n'));
    // The documented bias (docs/anthropic.md): at most 2× on any sample (one-word strings), and
    // 1.0–1.9× on everything longer than a word.
    expect(Math.max(...ratios.classic)).toBeLessThanOrEqual(2);
    expect(Math.max(...ratios.dense)).toBeLessThanOrEqual(2);
  });

  it("covers the published Claude-to-GPT-4o ratios (English 1.16×, math 1.21×, Python 1.30×), and the dense tokenizer's 1.35× on top", () => {
    const published = { 'prose-en': 1.16, math: 1.21, 'code-py': 1.3, 'code-ts': 1.3 };
    for (const [kind, ratio] of Object.entries(published)) {
      const { text } = SAMPLES.find((s) => s.kind === kind)!;
      const o200k = countTokens(text, 'gpt-4o');
      expect(estimateClaudeTokens(text, 'classic'), kind).toBeGreaterThanOrEqual(
        Math.ceil(ratio * o200k),
      );
      expect(estimateClaudeTokens(text, 'dense'), kind).toBeGreaterThanOrEqual(
        Math.ceil(1.35 * ratio * o200k),
      );
    }
  });

  it('property: never below the reference counter on generated text of every character class', () => {
    const pieces = fc.constantFrom(
      'word',
      'Word',
      'WORDS',
      'camelCase',
      'snake_case',
      'supercalifragilistic',
      '42',
      '3.14159',
      ' ',
      '  ',
      '\n',
      '\n\n',
      '\t',
      '{',
      '}":',
      '---',
      '!?',
      'é',
      'ß',
      'Привет',
      'Ελλάδα',
      'שלום',
      'مرحبا',
      'नमस्ते',
      '東京',
      'ひらがな',
      '한국어',
      '😀',
      '👩‍💻',
      '🇯🇵',
      'ab12cd',
      '0x1F',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 60 }), (parts) => {
        const text = parts.join('');
        expect(estimateClaudeTokens(text, 'classic')).toBeGreaterThanOrEqual(
          countClaudeTokens(text, 'claude-3'),
        );
        expect(estimateClaudeTokens(text, 'dense')).toBeGreaterThanOrEqual(
          countClaudeTokens(text, 'claude-4.7'),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('tokenizerGeneration', () => {
  it.each([
    ['claude-sonnet-4-5', 'classic'],
    ['claude-sonnet-4-5-20250929', 'classic'],
    ['claude-opus-4-20250514', 'classic'],
    ['claude-opus-4-0', 'classic'],
    ['claude-opus-4-6', 'classic'],
    ['claude-haiku-4-5', 'classic'],
    ['claude-3-5-haiku-latest', 'classic'],
    ['anthropic/claude-3-7-sonnet-20250219', 'classic'],
    ['claude-opus-4-7', 'dense'],
    ['claude-opus-4-8', 'dense'],
    ['claude-sonnet-5', 'dense'],
    ['claude-fable-5-1', 'dense'],
    ['claude-something-new', 'dense'],
    ['', 'dense'],
  ])('%s is %s', (model, generation) => {
    expect(tokenizerGeneration(model)).toBe(generation);
  });
});

// Requests of every shape the wrapper counts, against the fake's count_tokens (the number its
// /v1/messages bills for the same prompt).
const REQUESTS: Record<string, Record<string, unknown>> = {
  prose: { messages: [{ role: 'user', content: SAMPLES[0].text }] },
  code: { messages: [{ role: 'user', content: SAMPLES.find((s) => s.kind === 'code-ts')!.text }] },
  json: {
    messages: [{ role: 'user', content: SAMPLES.find((s) => s.kind === 'json-pretty')!.text }],
  },
  'non-english': {
    system: 'Answer in the language of the question.',
    messages: [
      { role: 'user', content: SAMPLES.find((s) => s.kind === 'prose-mixed-scripts')!.text },
      { role: 'assistant', content: SAMPLES.find((s) => s.kind === 'chinese')!.text },
      { role: 'user', content: SAMPLES.find((s) => s.kind === 'japanese')!.text },
    ],
  },
  'tool-schemas': {
    tools: [
      { name: 'create_order', description: 'Creates an order.', input_schema: PYDANTIC_SCHEMA },
      { name: 'update_order', description: 'Updates an order.', input_schema: ZOD_SCHEMA },
      { name: 'nested', input_schema: nestedObjectSchema(5) },
    ],
    tool_choice: { type: 'any' },
    messages: [{ role: 'user', content: 'Create an order for two A-1 widgets.' }],
  },
  'tool-round-trip': {
    tools: [
      {
        name: 'get_weather',
        description: 'Get the current weather in a given location',
        input_schema: {
          type: 'object',
          properties: { location: { type: 'string' } },
          required: ['location'],
        },
      },
    ],
    messages: [
      { role: 'user', content: "What's the weather like in San Francisco?" },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          {
            type: 'tool_use',
            id: 'toolu_1',
            name: 'get_weather',
            input: { location: 'San Francisco, CA' },
          },
        ],
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: 'toolu_1',
            content: '15°C, fog in the morning, sunny later.',
          },
        ],
      },
    ],
  },
  'system-blocks-and-cache': {
    system: [
      {
        type: 'text',
        text: SAMPLES.find((s) => s.kind === 'markdown')!.text,
        cache_control: { type: 'ephemeral' },
      },
    ],
    messages: [
      {
        role: 'user',
        content: [{ type: 'text', text: SAMPLES.find((s) => s.kind === 'sql')!.text }],
      },
    ],
  },
  'emoji-and-whitespace': {
    messages: [
      {
        role: 'user',
        content: SAMPLES.find((s) => s.kind === 'random-emoji')!.text + '\n\n\n\t  x',
      },
    ],
  },
};

describe('estimateMessagesInput against count_tokens', () => {
  let server: FakeAnthropicServer;
  let client: Anthropic;
  beforeAll(async () => {
    server = await startFakeAnthropic();
    client = new Anthropic({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
  });
  afterAll(() => server.close());

  it.each(['claude-sonnet-4-5', 'claude-opus-4-7'])(
    'never counts a request below its bill (%s)',
    async (model) => {
      const rows: string[] = [];
      for (const [kind, request] of Object.entries(REQUESTS)) {
        const body = { model, ...request } as Anthropic.MessageCountTokensParams;
        const { input_tokens: exact } = await client.messages.countTokens(body);
        const estimated = estimateMessagesInput(body as never, model).inputTokens;
        expect(estimated, kind).toBeGreaterThanOrEqual(exact);
        expect(estimated / exact, kind).toBeLessThanOrEqual(2.5);
        rows.push(
          `${model} ${kind.padEnd(24)} ${exact} → ${estimated} (${(estimated / exact).toFixed(2)}×)`,
        );
      }
      if (print) console.log(rows.join('\n'));
    },
  );
});

describe("Anthropic's published token counts (token-counting guide, claude-opus-4)", () => {
  const model = 'claude-opus-4-20250514';

  it('a system prompt and one user message: 14 tokens', () => {
    const body = {
      model,
      system: 'You are a scientist',
      messages: [{ role: 'user', content: 'Hello, Claude' }],
    };
    expect(estimateMessagesInput(body, model).inputTokens).toBeGreaterThanOrEqual(14);
  });

  it('one tool and one question: 403 tokens', () => {
    const body = {
      model,
      tools: [
        {
          name: 'get_weather',
          description: 'Get the current weather in a given location',
          input_schema: {
            type: 'object',
            properties: {
              location: {
                type: 'string',
                description: 'The city and state, e.g. San Francisco, CA',
              },
            },
            required: ['location'],
          },
        },
      ],
      messages: [{ role: 'user', content: "What's the weather like in San Francisco?" }],
    };
    expect(estimateMessagesInput(body, model).inputTokens).toBeGreaterThanOrEqual(403);
  });

  it('a conversation with a thinking block: 88 tokens', () => {
    const body = {
      model,
      thinking: { type: 'enabled', budget_tokens: 16000 },
      messages: [
        {
          role: 'user',
          content: 'Are there an infinite number of prime numbers such that n mod 4 == 3?',
        },
        {
          role: 'assistant',
          content: [
            {
              type: 'thinking',
              thinking:
                'This is a nice number theory question. Lets think about it step by step...',
              signature:
                'EuYBCkQYAiJAgCs1le6/Pol5Z4/JMomVOouGrWdhYNsH3ukzUECbB6iWrSQtsQuRHJID6lWV...',
            },
            {
              type: 'text',
              text: 'Yes, there are infinitely many prime numbers p such that p mod 4 = 3...',
            },
          ],
        },
        { role: 'user', content: 'Can you write a formal proof?' },
      ],
    };
    expect(estimateMessagesInput(body, model).inputTokens).toBeGreaterThanOrEqual(88);
  });
});
