import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { createAgent, createMiddleware } from 'langchain';
import { expect, it, vi } from 'vitest';
import { z } from 'zod';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { budgetMiddleware, meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import { describeOnNode } from '../../support/node-version.js';
import { useFakeOpenAIAndLedger } from '../../fixtures/openai.fixture.js';

// @langchain/openai 1.6 needs Node >= 22.
describeOnNode(22, 'tokencap/langchain: a caller leaving early is charged what was billed', () => {
  // 100 tokens, one a chunk, 2 ms apart: a stream lasts about 200 ms.
  const t = useFakeOpenAIAndLedger({ replyTokens: 100, chunkDelayMs: 2 });

  const billed = () => t.server.tally.totalTokens;
  const used = async (budget: Budget) => (await t.ledger.usage([budget]))[0]!.dimensions.tokens!;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const chat = () =>
    meterChatModel(
      new ChatOpenAI({
        model: 'gpt-4o-mini',
        apiKey: 'test',
        maxRetries: 0,
        configuration: { baseURL: t.server.baseURL },
      }),
    );
  /** Waits for the call's settlement: a stream nobody reads settles when the provider's ends. */
  const settledOn = (budget: Budget) =>
    vi.waitFor(async () => expect((await used(budget)).reserved).toBe(0), { timeout: 2_000 });

  // Before the fix: billed 108, charged 9 (the prompt and the one chunk read).
  it('a reader slower than the model that leaves after one chunk is charged the whole bill', async () => {
    const model = chat();
    const budget = defineBudget({ scope: 'task', key: 'slow', limit: 50_000 });
    await runWithBudgets(t.ledger, [budget], async () => {
      for await (const _chunk of await model.stream('hi')) {
        // The model finishes while the reader is busy with its first chunk.
        await t.server.settled();
        await sleep(50);
        break;
      }
    });
    expect(billed()).toBe(108);
    expect(await used(budget)).toMatchObject({ used: 108, reserved: 0 });
  });

  // Before the fix: 60 calls sent, none refused, billed 2,904 on the 1,000-token budget, charged
  // 600 (the prompt and the 2 chunks read of each call). After: 23 sent, billed 1,011, charged 993.
  it('hard stop: slow readers leaving early are charged what arrived, so the budget stops them', async () => {
    const model = chat();
    const budget = defineBudget({
      scope: 'task',
      key: 'hard',
      limit: 1_000,
      maxReservation: 150,
    });
    let calls = 0;
    const error = await runWithBudgets(t.ledger, [budget], async () => {
      for (; calls < 60; calls++) {
        let n = 0;
        for await (const _chunk of await model.stream('hi')) {
          await sleep(60);
          if (++n === 2) break;
        }
      }
    }).catch((e: unknown) => e);
    await t.server.settled();
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(calls).toBeLessThan(60);
    const sent = t.server.requests.length;
    expect(sent).toBe(calls);
    // What the provider wrote after the abort, before it saw it: a few tokens a call at most.
    expect(billed()).toBeLessThanOrEqual(1_000 + 3 * sent);
    const { used: charged, reserved } = await used(budget);
    expect(reserved).toBe(0);
    expect(charged).toBeGreaterThanOrEqual(billed() - 3 * sent);
  });

  // Before the fix: billed 108, charged 0, the reservation held until garbage collection and ttl.
  it('a stream obtained and never read is charged its bill once the provider ends it', async () => {
    const model = chat();
    const budget = defineBudget({ scope: 'task', key: 'unread', limit: 50_000 });
    const stream = await runWithBudgets(t.ledger, [budget], () => model.stream('hi'));
    await t.server.settled();
    await settledOn(budget);
    expect(billed()).toBe(108);
    expect((await used(budget)).used).toBe(108);
    void stream;
  });

  // Before the fix: the request ran on (billed 108), charged 8.
  it('return() before the first read stops the request and charges what arrived', async () => {
    const model = chat();
    const budget = defineBudget({ scope: 'task', key: 'returned', limit: 50_000 });
    await runWithBudgets(t.ledger, [budget], async () => {
      const stream = await model.stream('hi');
      await stream.return();
    });
    const { used: charged, reserved } = await used(budget);
    expect(reserved).toBe(0);
    await t.server.settled();
    expect(billed()).toBeLessThan(108);
    expect(charged).toBeGreaterThanOrEqual(billed() - 3);
  });

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
        configuration: { baseURL: t.server.baseURL },
      }),
      tools: [search],
      middleware: [budgetMiddleware(), alwaysSearch],
    });
    const budget = defineBudget({ scope: 'task', key: 'agent', limit: 2_000 });
    let steps = 0;
    await runWithBudgets(t.ledger, [budget], async () => {
      const input = { messages: [{ role: 'user', content: 'Research our costs.' }] };
      for await (const _step of await agent.stream(input, { recursionLimit: 100 })) {
        if (++steps === 2) break;
      }
    });
    await t.server.settled();
    expect(steps).toBe(2);
    expect(t.server.requests).toHaveLength(1);
    expect(billed()).toBeGreaterThan(0);
    const { used: charged, reserved } = await used(budget);
    expect(reserved).toBe(0);
    expect(charged).toBe(billed());
  });
});
