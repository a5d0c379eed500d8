import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool, wrapLanguageModel } from 'ai';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent, UsageEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { budgetMiddleware, budgetNearlySpent } from '../../../lib/frameworks/ai-sdk/index.js';
import { RedisLedgerStore } from '../../../lib/redis/index.js';
import {
  type FakeAnthropicServer,
  type FakeOpenAIServer,
  startFakeAnthropic,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';
import {
  AGENT_MODEL,
  ResearchAgent,
  researchAgentModule,
  TASK_LIMIT,
} from '../../fixtures/ai-sdk-agent.fixture.js';
import { createTestApp, type TestApp } from '../../fixtures/app.fixture.js';
import { describeOnNode } from '../../support/node-version.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from '../../redis/support/redis-env.js';

const usageEvents = (events: TokencapEvent[]) =>
  events.filter((e): e is UsageEvent => e.type === 'usage');

describeOnNode(22, 'the AI SDK behind budgetMiddleware, in a Nest app with @Budget', () => {
  let server: FakeAnthropicServer;
  let t: TestApp;
  beforeAll(async () => {
    server = await startFakeAnthropic({ replyTokens: 40, keepAlive: false });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await t?.app.close();
    await server.settled();
    server.reset();
  });

  it("stops a runaway tool loop with BudgetExceededError, Anthropic having billed at most @Budget('task') and every token charged", async () => {
    t = await createTestApp({ imports: [researchAgentModule(server.baseURL)] });
    const agent = t.get(ResearchAgent);
    const error = await agent.research('Find the answer.').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ scope: 'task', limit: TASK_LIMIT, policy: 'hard-stop' });

    const billed = server.tally.inputTokens + server.tally.outputTokens;
    expect(billed).toBeLessThanOrEqual(TASK_LIMIT);
    // The loop ran many steps before the budget stopped it, and was refused before the next request.
    expect(server.tally.requests).toBeGreaterThan(3);
    expect(server.requests.length).toBe(server.tally.requests);
    expect(agent.toolCalls).toBe(server.tally.requests);
    // Each step was charged what Anthropic reported, with the model.
    const usage = usageEvents(t.events);
    expect(usage).toHaveLength(server.tally.requests);
    expect(
      usage.every((e) => e.details?.model === AGENT_MODEL && e.details.source === 'provider'),
    ).toBe(true);
    expect(usage.at(-1)?.used).toBe(billed);
    expect(t.events.filter((e) => e.type === 'refused')).toEqual([
      expect.objectContaining({ scope: 'task', limit: TASK_LIMIT, used: billed, reserved: 0 }),
    ]);
  });

  it('ends the same loop cleanly with budgetNearlySpent(), before any refusal', async () => {
    t = await createTestApp({ imports: [researchAgentModule(server.baseURL)] });
    const agent = t.get(ResearchAgent);
    const outcome = await agent.research('Find the answer.', [budgetNearlySpent()]);
    expect(outcome.finishReason).toBe('tool-calls');
    expect(outcome.steps).toBe(server.tally.requests);
    expect(t.events.some((e) => e.type === 'refused')).toBe(false);

    const billed = server.tally.inputTokens + server.tally.outputTokens;
    const usage = usageEvents(t.events);
    const last = usage.at(-1)!;
    expect(last.used).toBe(billed);
    const lastStep = last.used - usage.at(-2)!.used;
    // Stopped because 90% was used, or because the last step would no longer fit.
    expect(billed >= 0.9 * TASK_LIMIT || TASK_LIMIT - billed < lastStep).toBe(true);
    // …and not a step earlier.
    const before = usage.at(-2)!.used;
    const stepBefore = before - (usage.at(-3)?.used ?? 0);
    expect(before < 0.9 * TASK_LIMIT && TASK_LIMIT - before >= stepBefore).toBe(true);
  });
});

describeOnNode(22, 'the AI SDK with @ai-sdk/openai behind budgetMiddleware', () => {
  let server: FakeOpenAIServer;
  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: 100, keepAlive: false });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await server.settled();
    server.reset();
  });

  const provider = () => createOpenAI({ apiKey: 'test', baseURL: server.baseURL });
  const chatModel = () =>
    wrapLanguageModel({ model: provider().chat('gpt-4o-mini'), middleware: budgetMiddleware() });
  const responsesModel = () =>
    wrapLanguageModel({ model: provider()('gpt-4o-mini'), middleware: budgetMiddleware() });

  const stores: [string, () => Promise<{ ledger: Ledger; close(): Promise<void> } | undefined>][] =
    [
      [
        'memory',
        async () => ({
          ledger: new Ledger({ store: new MemoryLedgerStore() }),
          close: async () => {},
        }),
      ],
      [
        'redis',
        async () => {
          if (!(await redisAvailable('ai-sdk parallel calls'))) return undefined;
          const client = new Redis(REDIS_URL);
          const store = new RedisLedgerStore({ client, prefix: uniquePrefix('ai-sdk') });
          const ledger = new Ledger({ store });
          return {
            ledger,
            close: async () => {
              await ledger.close();
              client.disconnect();
            },
          };
        },
      ],
    ];

  for (const [name, open] of stores) {
    it(`30 parallel generateText calls in one session never overshoot it (${name} store)`, async (ctx) => {
      const opened = await open();
      if (!opened) return ctx.skip();
      const { ledger } = opened;
      const events: TokencapEvent[] = [];
      ledger.events$.subscribe((e) => events.push(e));
      const model = chatModel();
      const limit = 1_000;
      const session = [defineBudget({ scope: 'session', key: 'parallel', limit })];
      try {
        const results = await runWithBudgets(ledger, session, () =>
          Promise.allSettled(
            Array.from({ length: 30 }, (_, i) =>
              generateText({ model, prompt: `Question number ${i}?`, maxRetries: 0 }),
            ),
          ),
        );
        await server.settled();
        const billed = server.tally.promptTokens + server.tally.completionTokens;
        expect(billed).toBeLessThanOrEqual(limit);
        const done = results.filter((r) => r.status === 'fulfilled');
        const refused = results.filter(
          (r) => r.status === 'rejected' && r.reason instanceof BudgetExceededError,
        );
        expect(done.length).toBeGreaterThan(0);
        expect(done.length + refused.length).toBe(30);
        // Refused calls never reached the provider; every call sent was charged as billed.
        expect(server.requests.length).toBe(server.tally.requests);
        const [usage] = await ledger.usage(session);
        expect(usage.used).toBe(billed);
        expect(usage.reserved).toBe(0);
        const charged = usageEvents(events);
        expect(charged).toHaveLength(server.tally.requests);
        expect(charged.every((e) => e.details?.model === 'gpt-4o-mini')).toBe(true);
      } finally {
        await opened.close();
      }
    });
  }

  for (const api of ['chat', 'responses'] as const) {
    it(`stops a runaway tool loop (${api}): refused before the step that would not fit, OpenAI having billed at most the limit`, async () => {
      const ledger = new Ledger();
      const events: TokencapEvent[] = [];
      ledger.events$.subscribe((e) => events.push(e));
      const limit = 3_000;
      const task = [defineBudget({ scope: 'task', key: `loop-${api}`, limit })];
      let calls = 0;
      const error = await runWithBudgets(ledger, task, () =>
        generateText({
          model: api === 'chat' ? chatModel() : responsesModel(),
          prompt: 'Find the answer.',
          toolChoice: 'required',
          tools: {
            search: tool({
              description: 'Searches the web.',
              inputSchema: jsonSchema<{ query: string }>({
                type: 'object',
                properties: { query: { type: 'string' } },
                required: ['query'],
              }),
              execute: async ({ query }) => {
                calls++;
                return { query, page: 'Nothing conclusive yet; try another query.' };
              },
            }),
          },
          stopWhen: stepCountIs(500),
        }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BudgetExceededError);
      await server.settled();
      const billed = server.tally.promptTokens + server.tally.completionTokens;
      expect(billed).toBeLessThanOrEqual(limit);
      expect(calls).toBe(server.tally.requests);
      expect(calls).toBeGreaterThan(3);
      expect(server.requests).toHaveLength(server.tally.requests);
      const [usage] = await ledger.usage(task);
      expect(usage).toMatchObject({ used: billed, reserved: 0 });
      expect(usageEvents(events).every((e) => e.details?.source === 'provider')).toBe(true);
    });
  }

  it('clamps maxOutputTokens to what the budget has left and counts the prompt exactly', async () => {
    const ledger = new Ledger();
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const budget = [defineBudget({ scope: 'task', key: 'clamp', limit: 60 })];
    // Usage is left out, so the call is settled from Tokencap's own counts.
    server.fail({ kind: 'omit-usage' });
    const result = await runWithBudgets(ledger, budget, () =>
      generateText({ model: chatModel(), prompt: 'Hello there', maxOutputTokens: 500 }),
    );
    const prompt = server.tally.promptTokens;
    const sent = server.requests[0].body as { max_tokens: number };
    expect(sent.max_tokens).toBe(60 - prompt);
    expect(result.finishReason).toBe('length');
    expect(usageEvents(events)).toEqual([
      expect.objectContaining({
        used: 60,
        details: expect.objectContaining({
          model: 'gpt-4o-mini',
          inputTokens: prompt,
          outputTokens: 60 - prompt,
          source: 'estimate',
        }),
      }),
    ]);
    expect(server.tally.completionTokens).toBe(60 - prompt);
  });

  it('cuts a stream inside the budget: the caller sees BudgetExceededError, the provider billed at most the limit', async () => {
    const ledger = new Ledger();
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const limit = 50;
    const budget = [defineBudget({ scope: 'task', key: 'stream', limit })];
    let text = '';
    const error = await runWithBudgets(ledger, budget, async () => {
      const result = streamText({ model: responsesModel(), prompt: 'Tell me a long story.' });
      for await (const delta of result.textStream) text += delta;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    await server.settled();
    const billed = server.tally.promptTokens + server.tally.completionTokens;
    expect(billed).toBeLessThanOrEqual(limit);
    expect(text).toBe(' hello'.repeat(server.tally.completionTokens));
    const [usage] = await ledger.usage(budget);
    expect(usage.used).toBe(billed);
    expect(events.filter((e) => e.type === 'refused')).toHaveLength(1);
  });

  it('settles a stream the caller aborts from what it saw, never 0', async () => {
    const slow = await startFakeOpenAI({ replyTokens: 500, chunkDelayMs: 5, keepAlive: false });
    try {
      const model = wrapLanguageModel({
        model: createOpenAI({ apiKey: 'test', baseURL: slow.baseURL }).chat('gpt-4o-mini'),
        middleware: budgetMiddleware(),
      });
      const ledger = new Ledger();
      const events: TokencapEvent[] = [];
      ledger.events$.subscribe((e) => events.push(e));
      const budget = [defineBudget({ scope: 'task', key: 'abort', limit: 10_000 })];
      const abort = new AbortController();
      let seen = 0;
      await runWithBudgets(ledger, budget, async () => {
        const result = streamText({
          model,
          prompt: 'Tell me a long story.',
          abortSignal: abort.signal,
        });
        for await (const delta of result.textStream) {
          seen += delta.length / ' hello'.length;
          if (seen >= 10) abort.abort();
        }
      }).catch(() => undefined);
      await slow.settled();
      const [charged] = usageEvents(events);
      expect(charged.details).toMatchObject({
        model: 'gpt-4o-mini',
        inputTokens: slow.tally.promptTokens,
        source: 'estimate',
      });
      expect(charged.details!.outputTokens).toBeGreaterThanOrEqual(10);
      expect(charged.details!.outputTokens).toBeLessThanOrEqual(slow.tally.completionTokens);
      const [usage] = await ledger.usage(budget);
      expect(usage.reserved).toBe(0);
      expect(usage.used).toBe(slow.tally.promptTokens + charged.details!.outputTokens);
    } finally {
      await slow.close();
    }
  });

  it('refuses a call that cannot fit before anything is sent', async () => {
    const ledger = new Ledger();
    const budget = [defineBudget({ scope: 'task', key: 'tiny', limit: 5 })];
    const error = await runWithBudgets(ledger, budget, () =>
      generateText({ model: chatModel(), prompt: 'Hello there, how are you today?' }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ scope: 'task', key: 'tiny', limit: 5, used: 0 });
    expect(server.requests).toHaveLength(0);
  });
});
