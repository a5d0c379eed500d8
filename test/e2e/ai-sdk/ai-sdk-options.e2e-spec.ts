import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, tool, ToolLoopAgent, wrapLanguageModel } from 'ai';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent, UsageEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { BudgetExceededError, TokencapConfigError } from '../../../lib/errors.js';
import { budgetMiddleware, budgetNearlySpent } from '../../../lib/frameworks/ai-sdk/index.js';
import {
  type FakeAnthropicServer,
  type FakeOpenAIServer,
  startFakeAnthropic,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

describeOnNode(22, 'budgetMiddleware: provider options and degrade budgets', () => {
  let openaiServer: FakeOpenAIServer;
  let anthropicServer: FakeAnthropicServer;
  beforeAll(async () => {
    openaiServer = await startFakeOpenAI({ replyTokens: 100, keepAlive: false });
    anthropicServer = await startFakeAnthropic({
      replyTokens: 100,
      thinkingTokens: 300,
      keepAlive: false,
    });
  });
  afterAll(async () => {
    await openaiServer.close();
    await anthropicServer.close();
  });
  afterEach(async () => {
    await openaiServer.settled();
    await anthropicServer.settled();
    openaiServer.reset();
    anthropicServer.reset();
  });

  const claude = () =>
    wrapLanguageModel({
      model: createAnthropic({ apiKey: 'test', baseURL: `${anthropicServer.baseURL}/v1` })(
        'claude-sonnet-4-5',
      ),
      middleware: budgetMiddleware(),
    });
  const thinking = { anthropic: { thinking: { type: 'enabled', budgetTokens: 1024 } } };

  it("grants @ai-sdk/anthropic's thinking budget inside the cap: max_tokens (maxOutputTokens + budgetTokens) is what the budget has left", async () => {
    const ledger = new Ledger();
    const limit = 3_000;
    const task = [defineBudget({ scope: 'task', key: 'think', limit })];
    await runWithBudgets(ledger, task, () =>
      generateText({
        model: claude(),
        prompt: 'Think, then answer.',
        maxOutputTokens: 8_000,
        providerOptions: thinking,
      }),
    );
    const sent = anthropicServer.requests[0].body as {
      max_tokens: number;
      thinking: { budget_tokens: number };
    };
    expect(sent.thinking.budget_tokens).toBe(1024);
    // Everything Anthropic may bill (the estimated prompt and max_tokens) fits in the budget.
    const [usage] = await ledger.usage(task);
    expect(usage.reserved).toBe(0);
    expect(sent.max_tokens).toBeLessThan(limit);
    expect(sent.max_tokens).toBeGreaterThan(1024);
    expect(anthropicServer.tally.inputTokens + sent.max_tokens).toBeLessThanOrEqual(limit);
    expect(usage.used).toBe(anthropicServer.tally.inputTokens + anthropicServer.tally.outputTokens);
  });

  it('refuses a thinking call the budget cannot grant budgetTokens + 1 output tokens, before anything is sent', async () => {
    const ledger = new Ledger();
    const task = () => [defineBudget({ scope: 'task', key: 'think-small', limit: 1_000 })];
    const error = await runWithBudgets(ledger, task(), () =>
      generateText({ model: claude(), prompt: 'Think, then answer.', providerOptions: thinking }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(anthropicServer.requests).toHaveLength(0);
    // Without thinking, the same budget grants the call what it has left.
    await runWithBudgets(new Ledger(), task(), () =>
      generateText({ model: claude(), prompt: 'Think, then answer.' }),
    );
    expect(anthropicServer.requests).toHaveLength(1);
  });

  it('stops a ToolLoopAgent streaming a forced tool loop with budgetNearlySpent: no refusal, the budget never passed', async () => {
    const ledger = new Ledger();
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const limit = 4_000;
    const task = [defineBudget({ scope: 'task', key: 'agent', limit })];
    const agent = new ToolLoopAgent({
      model: claude(),
      toolChoice: 'required',
      tools: {
        lookup: tool({
          description: 'Looks a fact up.',
          inputSchema: jsonSchema<{ fact: string }>({
            type: 'object',
            properties: { fact: { type: 'string' } },
            required: ['fact'],
          }),
          execute: async ({ fact }) => `No record of ${fact}.`,
        }),
      },
      stopWhen: [stepCountIs(200), budgetNearlySpent()],
    });
    const steps = await runWithBudgets(ledger, task, async () => {
      const result = await agent.stream({ prompt: 'Find it.' });
      for await (const part of result.textStream) void part;
      return (await result.steps).length;
    });
    await anthropicServer.settled();
    const billed = anthropicServer.tally.inputTokens + anthropicServer.tally.outputTokens;
    expect(steps).toBe(anthropicServer.tally.requests);
    expect(steps).toBeGreaterThan(3);
    expect(billed).toBeLessThanOrEqual(limit);
    expect(events.some((e) => e.type === 'refused')).toBe(false);
    const [usage] = await ledger.usage(task);
    expect(usage).toMatchObject({ used: billed, reserved: 0 });
  });

  it("sends calls to a degrade budget's fallback model once it reaches degradeAt, and says so", async () => {
    const provider = createOpenAI({ apiKey: 'test', baseURL: openaiServer.baseURL });
    const model = wrapLanguageModel({
      model: provider.chat('gpt-4o'),
      middleware: budgetMiddleware({
        fallbackModels: { 'gpt-4o-mini': provider.chat('gpt-4o-mini') },
      }),
    });
    const ledger = new Ledger();
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const budget = defineBudget({
      scope: 'user',
      key: 'u1',
      limit: 1_000,
      policy: 'degrade',
      fallbackModel: 'gpt-4o-mini',
      degradeAt: 0.5,
    });
    for (let i = 0; i < 8; i++) {
      await runWithBudgets(ledger, [budget], () => generateText({ model, prompt: 'Hello there' }));
    }
    const models = openaiServer.requests.map((r) => (r.body as { model: string }).model);
    const perCall =
      openaiServer.tally.byModel['gpt-4o'].totalTokens /
      openaiServer.tally.byModel['gpt-4o'].requests;
    const before = Math.ceil(500 / perCall);
    expect(models).toEqual([
      ...Array<string>(before).fill('gpt-4o'),
      ...Array<string>(8 - before).fill('gpt-4o-mini'),
    ]);
    const charged = events
      .filter((e): e is UsageEvent => e.type === 'usage')
      .map((e) => e.details?.model);
    expect(charged).toEqual(models);
    expect(events.filter((e) => e.type === 'degraded')).toHaveLength(8 - before);
  });

  it('fails a degraded call whose fallback model it was not given, sends nothing, and holds nothing', async () => {
    const provider = createOpenAI({ apiKey: 'test', baseURL: openaiServer.baseURL });
    const model = wrapLanguageModel({
      model: provider.chat('gpt-4o'),
      middleware: budgetMiddleware(),
    });
    const ledger = new Ledger();
    const budget = defineBudget({
      scope: 'user',
      key: 'u2',
      limit: 1_000,
      policy: 'degrade',
      fallbackModel: 'gpt-4o-mini',
      degradeAt: 0.1,
    });
    await runWithBudgets(ledger, [budget], () => generateText({ model, prompt: 'Hello there' }));
    const error = await runWithBudgets(ledger, [budget], () =>
      generateText({ model, prompt: 'Hello again' }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokencapConfigError);
    expect((error as Error).message).toBe(
      'budgetMiddleware: a degrade budget switches "gpt-4o" to "gpt-4o-mini", which is not in its fallbackModels option; the call was not sent.',
    );
    expect(openaiServer.requests).toHaveLength(1);
    const [usage] = await ledger.usage([budget]);
    expect(usage.reserved).toBe(0);
  });
});
