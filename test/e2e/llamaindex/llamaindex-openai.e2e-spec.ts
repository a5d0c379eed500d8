import type { ChatMessage } from '@llamaindex/core/llms';
import { OpenAI } from '@llamaindex/openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';

const MODEL = 'gpt-4o-mini';

describe('tokencap/llamaindex with the @llamaindex/openai LLM against the fake OpenAI API', () => {
  let server: FakeOpenAIServer;
  let ledger: Ledger;
  let events: TokencapEvent[];

  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: 300, keepAlive: false });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    events = [];
    ledger.events$.subscribe((e) => events.push(e));
  });
  afterEach(async () => {
    await server.settled();
    server.reset();
  });

  const llm = (maxTokens?: number) =>
    meterLLM(
      new OpenAI({
        model: MODEL,
        apiKey: 'test',
        maxRetries: 0,
        ...(maxTokens ? { maxTokens } : {}),
        baseURL: server.baseURL,
      }),
    );
  const task = (limit: number, key = 'run') => defineBudget({ scope: 'task', key, limit });
  const billed = () => server.tally.totalTokens;
  const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;
  const within = <T>(budget: Budget, fn: () => Promise<T>) => runWithBudgets(ledger, [budget], fn);
  const usageEvents = () => events.filter((e) => e.type === 'usage');
  const hello: ChatMessage[] = [{ role: 'user', content: 'Say hello.' }];

  it('chat: caps max_tokens at what is left, settles from the raw usage, the usage event names the model', async () => {
    const model = llm();
    const budget = task(1_000);
    const reply = await within(budget, () => model.chat({ messages: hello }));
    const raw = reply.raw as { usage: { prompt_tokens: number; completion_tokens: number } };
    const input = raw.usage.prompt_tokens;
    // Counted exactly before the call, so the cap is exactly the rest of the budget.
    expect(server.requests[0]!.body).toMatchObject({ model: MODEL, max_tokens: 1_000 - input });
    expect(raw.usage.completion_tokens).toBe(300);
    expect(await used(budget)).toMatchObject({ used: input + 300, reserved: 0 });
    expect(billed()).toBe(input + 300);
    expect(usageEvents()).toEqual([
      expect.objectContaining({
        details: {
          model: MODEL,
          inputTokens: input,
          outputTokens: 300,
          cachedInputTokens: 0,
          reasoningTokens: 0,
          source: 'provider',
        },
      }),
    ]);
  });

  it('complete goes through the same metering, and a refused call never reaches the provider', async () => {
    const model = llm();
    const budget = task(2_000);
    const done = await within(budget, () => model.complete({ prompt: 'Say hello.' }));
    expect(done.text.length).toBeGreaterThan(0);
    expect((await used(budget)).used).toBe(billed());
    const tiny = task(10, 'tiny');
    const error = await within(tiny, () =>
      model.complete({ prompt: 'Say hello to everyone here.' }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ scope: 'task', key: 'tiny', limit: 10, used: 0 });
    expect(server.tally.requests).toBe(1);
  });

  it('a streamed chat is cut inside the budget and ends with BudgetExceededError; usage comes from the stream', async () => {
    const model = llm();
    const budget = task(150);
    let text = '';
    const error = await within(budget, async () => {
      for await (const chunk of await model.chat({ messages: hello, stream: true }))
        text += chunk.delta;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(text.length).toBeGreaterThan(0);
    // Tokencap asked for the stream's usage through the LLM's own options.
    expect(server.requests[0]!.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(billed()).toBeLessThanOrEqual(150);
    expect((await used(budget)).used).toBe(billed());
    expect(usageEvents()).toEqual([
      expect.objectContaining({
        details: expect.objectContaining({ model: MODEL, source: 'provider' }),
      }),
    ]);
  });

  it('a streamed complete dropped after three chunks is charged an estimate, never 0', async () => {
    const model = llm();
    const budget = task(50_000);
    await within(budget, async () => {
      let n = 0;
      for await (const _chunk of await model.complete({
        prompt: 'Write an essay.',
        stream: true,
      })) {
        if (++n === 3) break;
      }
    });
    expect((await used(budget)).used).toBeGreaterThan(0);
    expect(usageEvents()).toEqual([
      expect.objectContaining({
        details: expect.objectContaining({ source: 'estimate', model: MODEL }),
      }),
    ]);
  });

  it('30 parallel calls in one budget never make the provider bill past it', async () => {
    const model = llm();
    const budget = task(3_000, 'parallel');
    const results = await within(budget, () =>
      Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          model.chat({ messages: [{ role: 'user', content: `Q${i}?` }] }),
        ),
      ),
    );
    const answered = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter(
      (r) => r.status === 'rejected' && r.reason instanceof BudgetExceededError,
    ).length;
    expect(answered + refused).toBe(30);
    expect(refused).toBeGreaterThan(0);
    expect(server.tally.requests).toBe(answered);
    expect(billed()).toBeLessThanOrEqual(3_000);
    expect((await used(budget)).used).toBe(billed());
  });

  it('a runaway retrieval loop stops at its task budget with the provider having billed at most the limit', async () => {
    const model = llm(200);
    const budget = task(6_000, 'loop');
    const messages: ChatMessage[] = [{ role: 'user', content: 'Research our costs.' }];
    let turns = 0;
    const error = await within(budget, async () => {
      for (;;) {
        const reply = await model.chat({ messages });
        turns++;
        messages.push(reply.message);
        messages.push({ role: 'user', content: 'Another result page. '.repeat(40) });
      }
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ scope: 'task', key: 'loop', limit: 6_000 });
    expect(turns).toBe(server.tally.requests);
    expect(turns).toBeGreaterThan(3);
    expect(billed()).toBeLessThanOrEqual(6_000);
    expect((await used(budget)).used).toBe(billed());
    expect(usageEvents()).toHaveLength(turns);
  });
});
