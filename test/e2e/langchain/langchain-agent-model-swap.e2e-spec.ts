import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { createAgent, createMiddleware, modelFallbackMiddleware } from 'langchain';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { budgetMiddleware } from '../../../lib/frameworks/langchain/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// @langchain/openai 1.6 needs Node >= 22.
describeOnNode(22, 'budgetMiddleware meters the model a later middleware swaps in', () => {
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

  const openai = (model: string, baseURL = server.baseURL) =>
    new ChatOpenAI({ model, apiKey: 'test', maxRetries: 0, configuration: { baseURL } });
  const billed = () => server.tally.totalTokens;
  const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;
  const search = tool(async () => 'Another result page. '.repeat(40), {
    name: 'search',
    description: 'Searches the documents.',
    schema: z.object({ query: z.string() }),
  });
  const alwaysSearch = createMiddleware({
    name: 'AlwaysSearch',
    wrapModelCall: (request, handler) => handler({ ...request, toolChoice: 'required' }),
  });
  const input = { messages: [{ role: 'user', content: 'Research our costs.' }] };

  async function runawayWith(
    middleware: Parameters<typeof createAgent>[0]['middleware'],
    key: string,
  ) {
    const agent = createAgent({ model: openai('gpt-4o-mini'), tools: [search], middleware });
    const budget = defineBudget({ scope: 'task', key, limit: 4_000 });
    const state = await runWithBudgets(ledger, [budget], () =>
      agent.invoke(input, { recursionLimit: 1_000 }),
    );
    return { state, budget };
  }

  const swaps = {
    'a custom wrapModelCall that hands the agent another ChatOpenAI': () => {
      const other = openai('gpt-4o');
      return createMiddleware({
        name: 'Swap',
        wrapModelCall: (request, handler) => handler({ ...request, model: other }),
      });
    },
    "LangChain's modelFallbackMiddleware after the primary fails": () =>
      modelFallbackMiddleware(openai('gpt-4o')),
  };

  for (const [name, swap] of Object.entries(swaps)) {
    it(`${name}: every call is metered, the run ends at the budget, the ledger holds what was billed`, async () => {
      const primaryDown = name.includes('Fallback');
      const agent = createAgent({
        model: primaryDown ? openai('gpt-4o-mini', 'http://127.0.0.1:9/v1') : openai('gpt-4o-mini'),
        tools: [search],
        middleware: [budgetMiddleware(), swap(), alwaysSearch],
      });
      const budget = defineBudget({ scope: 'task', key: name, limit: 4_000 });
      const state = await runWithBudgets(ledger, [budget], () =>
        agent.invoke(input, { recursionLimit: 1_000 }),
      );
      expect(state.messages.at(-1)!.response_metadata).toMatchObject({
        tokencap: { refused: { scope: 'task', key: name, limit: 4_000 } },
      });
      const turns = server.tally.requests;
      expect(turns).toBeGreaterThan(2);
      // Every request reached the provider with the swapped-in model, capped by the budget.
      for (const request of server.requests) {
        expect(request.body).toMatchObject({ model: 'gpt-4o' });
        expect((request.body as { max_tokens: number }).max_tokens).toBeLessThanOrEqual(4_000);
      }
      expect(billed()).toBeLessThanOrEqual(4_000);
      expect((await used(budget)).used).toBe(billed());
      expect(events.filter((e) => e.type === 'usage')).toHaveLength(turns);
    });
  }

  it('a swap placed before budgetMiddleware is metered as well', async () => {
    const other = openai('gpt-4o');
    const swap = createMiddleware({
      name: 'Swap',
      wrapModelCall: (request, handler) => handler({ ...request, model: other }),
    });
    const { state, budget } = await runawayWith([swap, budgetMiddleware(), alwaysSearch], 'before');
    expect(state.messages.at(-1)!.response_metadata).toMatchObject({
      tokencap: { refused: { key: 'before' } },
    });
    expect(billed()).toBeLessThanOrEqual(4_000);
    expect((await used(budget)).used).toBe(billed());
  });
});
