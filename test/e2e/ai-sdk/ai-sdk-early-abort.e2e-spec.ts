import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { budgetMiddleware } from '../../../lib/frameworks/ai-sdk/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// A "Stop" clicked (or a client gone) in the same tick as the call: the signal has aborted before
// the middleware hands the call to the model, whose fetch then sends nothing.
describeOnNode(22, 'budgetMiddleware: calls aborted before the request left', () => {
  let openai: FakeOpenAIServer;
  let ledger: Ledger;

  beforeAll(async () => {
    openai = await startFakeOpenAI({ replyTokens: 50 });
  });
  afterAll(async () => {
    await openai.close();
  });
  beforeEach(() => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  });
  afterEach(async () => {
    await openai.settled();
    openai.reset();
    await ledger.close();
  });

  const model = (id: string, fetch?: typeof globalThis.fetch) =>
    wrapLanguageModel({
      model: createOpenAI({ baseURL: openai.baseURL, apiKey: 'test', fetch }).chat(id),
      middleware: budgetMiddleware(),
    });
  const task = () => defineBudget({ scope: 'task', key: 'run', limit: 10_000 });
  const tokens = async (budget: Budget) => {
    const d = (await ledger.usage([budget]))[0]!.dimensions.tokens!;
    return { used: d.used, reserved: d.reserved };
  };
  const call = (
    id: string,
    stream: boolean,
    signal: AbortSignal,
    fetch?: typeof globalThis.fetch,
  ) => {
    const options = {
      model: model(id, fetch),
      prompt: 'Hello there.',
      maxOutputTokens: 2_000,
      maxRetries: 0,
      abortSignal: signal,
    };
    if (!stream) return generateText(options);
    const result = streamText({ ...options, onError: () => {} });
    return (async () => {
      for await (const _part of result.fullStream) {
        // read to the end
      }
    })();
  };

  for (const id of ['gpt-4o-mini', 'o4-mini']) {
    for (const stream of [false, true]) {
      const kind = `${id} ${stream ? 'streamText' : 'generateText'}`;

      it(`${kind} aborted in the same tick: released, nothing charged`, async () => {
        const budget = task();
        const controller = new AbortController();
        const done = runWithBudgets(ledger, [budget], () => {
          const pending = call(id, stream, controller.signal);
          controller.abort();
          return pending;
        });
        await done.catch(() => {});
        expect(await tokens(budget)).toEqual({ used: 0, reserved: 0 });
        expect(openai.requests).toHaveLength(0);
      });

      it(`${kind} with a signal aborted before the call: released`, async () => {
        const budget = task();
        await runWithBudgets(ledger, [budget], () => call(id, stream, AbortSignal.abort())).catch(
          () => {},
        );
        expect(await tokens(budget)).toEqual({ used: 0, reserved: 0 });
        expect(openai.requests).toHaveLength(0);
      });
    }
  }

  // Fail closed: once the model's fetch has the request, it may reach the provider.
  it('charges a call aborted once the model handed it to fetch', async () => {
    const budget = task();
    const controller = new AbortController();
    const fetchThenAbort: typeof globalThis.fetch = async (url, init) => {
      controller.abort();
      return fetch(url, init);
    };
    await runWithBudgets(ledger, [budget], () =>
      call('gpt-4o-mini', false, controller.signal, fetchThenAbort),
    ).catch(() => {});
    const { used, reserved } = await tokens(budget);
    expect(reserved).toBe(0);
    expect(used).toBeGreaterThan(2_000);
  });
});
