import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { createAgent, createMiddleware } from 'langchain';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { budgetMiddleware } from '../../../lib/frameworks/langchain/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// @langchain/openai 1.6 needs Node >= 22.
describeOnNode(22, 'tokencap/langchain: a caller leaving early is charged what was billed', () => {
  let server: FakeOpenAIServer;
  let ledger: Ledger;

  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: 30, keepAlive: false });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  });
  afterEach(async () => {
    await server.settled();
    server.reset();
  });

  const billed = () => server.tally.totalTokens;
  const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;

  // Before the fix: 1 request, billed 76, charged 2,000 (the whole budget): the agent's next model
  // call, aborted while it was planned, was charged its whole reservation though never sent.
  it('agent.stream() left after its first step: the next model call, never sent, is released', async () => {
    const search = tool(async () => 'Another result page.', {
      name: 'search',
      description: 'Searches the documents.',
      schema: z.object({ query: z.string() }),
    });
    const alwaysSearch = createMiddleware({
      name: 'AlwaysSearch',
      wrapModelCall: (request, handler) => handler({ ...request, toolChoice: 'required' }),
    });
    const agent = createAgent({
      model: new ChatOpenAI({
        model: 'gpt-4o-mini',
        apiKey: 'test',
        maxRetries: 0,
        configuration: { baseURL: server.baseURL },
      }),
      tools: [search],
      middleware: [budgetMiddleware(), alwaysSearch],
    });
    const budget = defineBudget({ scope: 'task', key: 'agent', limit: 2_000 });
    let steps = 0;
    await runWithBudgets(ledger, [budget], async () => {
      const input = { messages: [{ role: 'user', content: 'Research our costs.' }] };
      for await (const _step of await agent.stream(input, { recursionLimit: 100 })) {
        if (++steps === 2) break;
      }
    });
    await server.settled();
    expect(steps).toBe(2);
    expect(server.requests).toHaveLength(1);
    expect(billed()).toBeGreaterThan(0);
    const { used: charged, reserved } = await used(budget);
    expect(reserved).toBe(0);
    expect(charged).toBe(billed());
  });
});
