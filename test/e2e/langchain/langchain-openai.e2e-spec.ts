import { type AIMessage, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

const MODEL = 'gpt-4o-mini';

// @langchain/openai 1.6 needs Node >= 22.
describeOnNode(22, 'tokencap/langchain with ChatOpenAI against the fake OpenAI API', () => {
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

  const chat = (fields: Partial<ConstructorParameters<typeof ChatOpenAI>[0]> = {}) =>
    meterChatModel(
      new ChatOpenAI({
        model: MODEL,
        apiKey: 'test',
        maxRetries: 0,
        configuration: { baseURL: server.baseURL },
        ...fields,
      }),
    );
  const task = (limit: number, key = 'run') => defineBudget({ scope: 'task', key, limit });
  const billed = () => server.tally.totalTokens;
  const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;
  const within = <T>(budget: Budget, fn: () => Promise<T>) => runWithBudgets(ledger, [budget], fn);
  const usageEvents = () => events.filter((e) => e.type === 'usage');

  it('invoke: caps max_tokens at what the budget has left, settles from usage_metadata, the usage event names the model', async () => {
    const model = chat();
    const budget = task(1_000);
    const reply = await within(budget, () => model.invoke('Say hello.'));
    const input = reply.usage_metadata!.input_tokens;
    // The input is counted exactly for OpenAI models, so the cap is exactly what is left.
    expect(server.requests[0]!.body).toMatchObject({ model: MODEL, max_tokens: 1_000 - input });
    expect(reply.usage_metadata!.output_tokens).toBe(300);
    expect(await used(budget)).toMatchObject({ used: input + 300, reserved: 0 });
    expect(billed()).toBe(input + 300);
    expect(usageEvents()).toEqual([
      expect.objectContaining({
        scope: 'task',
        used: input + 300,
        details: { model: MODEL, inputTokens: input, outputTokens: 300, source: 'provider' },
      }),
    ]);
  });

  it('refuses before the provider is reached, with the refusal naming the budget', async () => {
    const model = chat();
    const budget = task(10);
    const error = await within(budget, () => model.invoke('Say hello to everyone here.')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ scope: 'task', key: 'run', limit: 10, used: 0 });
    expect(server.requests).toHaveLength(0);
    expect(events.map((e) => e.type)).toEqual(['refused']);
  });

  it('stream: cut inside the budget, ending the loop with BudgetExceededError; usage read from the stream', async () => {
    const model = chat();
    const budget = task(150);
    let text = '';
    const error = await within(budget, async () => {
      for await (const chunk of await model.stream('Write a long essay.')) text += chunk.text;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(text.length).toBeGreaterThan(0);
    expect(billed()).toBeLessThanOrEqual(150);
    expect((await used(budget)).used).toBe(billed());
    expect(usageEvents()).toEqual([
      expect.objectContaining({
        details: expect.objectContaining({ model: MODEL, source: 'provider' }),
      }),
    ]);
  });

  it('a stream dropped early is charged the input and all the output that arrived, never 0', async () => {
    const model = chat();
    const budget = task(50_000);
    await within(budget, async () => {
      let n = 0;
      for await (const _chunk of await model.stream('Write a long essay.')) if (++n === 3) break;
    });
    const spent = (await used(budget)).used;
    await server.settled();
    expect(spent).toBeGreaterThan(0);
    // Read as it arrives, not as the loop pulled it: only what the fake wrote after the abort,
    // before it saw it, escapes (the whole answer and its usage when it came before the break).
    expect(spent).toBeGreaterThanOrEqual(billed() - 3);
    expect(usageEvents()).toEqual([
      expect.objectContaining({ details: expect.objectContaining({ model: MODEL }) }),
    ]);
  });

  it('bindTools and batch are metered: the tool definitions are counted, every call settles', async () => {
    const search = tool(async () => 'nothing', {
      name: 'search',
      description: 'Searches the documents for a query.',
      schema: z.object({ query: z.string() }),
    });
    const model = chat();
    const budget = task(50_000);
    const bound = await within(budget, () => model.bindTools([search]).invoke('Find invoices.'));
    const bare = await within(budget, () => model.invoke('Find invoices.'));
    // The fake bills the tool definitions as the API does; the reservation counted them too.
    expect(bound.usage_metadata!.input_tokens).toBeGreaterThan(bare.usage_metadata!.input_tokens);
    const batch = await within(budget, () => model.batch(['One.', 'Two.', 'Three.']));
    expect(batch).toHaveLength(3);
    expect(server.tally.requests).toBe(5);
    expect((await used(budget)).used).toBe(billed());
    expect(usageEvents()).toHaveLength(5);
  });

  it('30 parallel calls in one budget never make the provider bill past it', async () => {
    const model = chat();
    const budget = task(3_000, 'parallel');
    const results = await within(budget, () =>
      Promise.allSettled(Array.from({ length: 30 }, (_, i) => model.invoke(`Question ${i}?`))),
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

  it('a runaway tool loop stops at its task budget with the provider having billed at most the limit', async () => {
    const search = tool(async () => 'more', {
      name: 'search',
      description: 'Searches the documents.',
      schema: z.object({ query: z.string() }),
    });
    const model = chat({ maxTokens: 200 }).bindTools([search]);
    const budget = task(6_000, 'loop');
    const messages: BaseMessage[] = [new HumanMessage('Research our costs.')];
    let turns = 0;
    const error = await within(budget, async () => {
      for (;;) {
        const reply: AIMessage = await model.invoke(messages);
        turns++;
        messages.push(reply);
        // The retrieval step never says "done": every turn brings another page to read.
        messages.push(new HumanMessage('Another result page. '.repeat(40)));
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
