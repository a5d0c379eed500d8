import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, type ModelMessage, tool, wrapLanguageModel } from 'ai';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { UsageEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { budgetMiddleware } from '../../../lib/frameworks/ai-sdk/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// Conversations with system prompts, tool calls and their results, and tool definitions: what a
// tool loop sends on every step after the first.
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const toolTurn = fc.record({
  id: fc.stringMatching(/^call_[a-z0-9]{4,10}$/),
  city: text,
  result: text,
});
const conversation = fc.record({
  system: fc.option(text, { nil: undefined }),
  question: text,
  turns: fc.array(toolTurn, { maxLength: 3 }),
  description: text,
});

function messagesOf(c: {
  question: string;
  turns: { id: string; city: string; result: string }[];
}): ModelMessage[] {
  const messages: ModelMessage[] = [{ role: 'user', content: c.question }];
  for (const turn of c.turns) {
    messages.push(
      {
        role: 'assistant',
        content: [
          {
            type: 'tool-call',
            toolCallId: turn.id,
            toolName: 'weather',
            input: { city: turn.city },
          },
        ],
      },
      {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: turn.id,
            toolName: 'weather',
            output: { type: 'json', value: { city: turn.city, report: turn.result } },
          },
        ],
      },
    );
  }
  return messages;
}

describeOnNode(22, 'budgetMiddleware counts OpenAI prompts exactly', () => {
  let server: FakeOpenAIServer;
  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: 3 });
  });
  afterAll(() => server.close());

  for (const api of ['chat', 'responses'] as const) {
    it(`its count equals the tokens the provider bills, for conversations with tools (${api})`, async () => {
      const provider = createOpenAI({ apiKey: 'test', baseURL: server.baseURL });
      const model = wrapLanguageModel({
        model: api === 'chat' ? provider.chat('gpt-4o-mini') : provider.responses('gpt-4o-mini'),
        middleware: budgetMiddleware(),
      });
      try {
        await fc.assert(
          fc.asyncProperty(conversation, async (c) => {
            server.reset();
            // No usage comes back, so the call is charged Tokencap's own count of its prompt.
            server.fail({ kind: 'omit-usage' }, { times: Infinity });
            const ledger = new Ledger();
            const charged: UsageEvent[] = [];
            ledger.events$.subscribe((e) => e.type === 'usage' && charged.push(e));
            const budget = [defineBudget({ scope: 'task', key: 'count', limit: 100_000 })];
            await runWithBudgets(ledger, budget, () =>
              generateText({
                model,
                system: c.system,
                messages: messagesOf(c),
                tools: {
                  weather: tool({
                    description: c.description,
                    inputSchema: jsonSchema<{ city: string }>({
                      type: 'object',
                      properties: { city: { type: 'string', description: 'The city' } },
                      required: ['city'],
                      additionalProperties: false,
                    }),
                  }),
                },
              }),
            );
            expect(charged[0].details).toMatchObject({
              source: 'estimate',
              inputTokens: server.tally.promptTokens,
            });
          }),
          { numRuns: 25 },
        );
      } finally {
        server.reset();
      }
    });
  }
});
