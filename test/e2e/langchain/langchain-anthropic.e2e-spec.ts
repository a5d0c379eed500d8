import { ChatAnthropic } from '@langchain/anthropic';
import { tool } from '@langchain/core/tools';
import { createAgent, createMiddleware } from 'langchain';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { RedisLedgerStore } from '../../../lib/redis/index.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { budgetMiddleware, meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import { type FakeAnthropicServer, startFakeAnthropic } from '../../../lib/testing/index.js';
import {
  deleteByPrefix,
  REDIS_URL,
  redisAvailable,
  uniquePrefix,
} from '../../redis/support/redis-env.js';

const MODEL = 'claude-haiku-4-5';

// Every guarantee on both stores: the Redis store's Lua scripts hold the same rules.
const redis = await redisAvailable('the LangChain e2e tests on the Redis store');
const stores: [string, boolean][] = [
  ['memory', true],
  ['redis', redis],
];

describe.each(stores)(
  'tokencap/langchain with ChatAnthropic against the fake Anthropic API (%s store)',
  (storeName, run) => {
    // A prefix per test: budget keys repeat from test to test.
    let prefix = '';
    let client: Redis | undefined;
    let server: FakeAnthropicServer;
    let ledger: Ledger;
    let events: TokencapEvent[];

    beforeAll(async () => {
      server = await startFakeAnthropic({ replyTokens: 300, keepAlive: false });
      if (storeName === 'redis' && run) client = new Redis(REDIS_URL);
    });
    afterAll(async () => {
      await server.close();
      await client?.quit();
    });
    beforeEach(() => {
      prefix = uniquePrefix('langchain');
      const store =
        storeName === 'redis'
          ? new RedisLedgerStore({ client: client!, prefix })
          : new MemoryLedgerStore({ sweepInterval: false });
      ledger = new Ledger({ store });
      events = [];
      ledger.events$.subscribe((e) => events.push(e));
    });
    afterEach(async () => {
      await server.settled();
      server.reset();
      if (client) await deleteByPrefix(client, prefix);
    });

    const chat = () =>
      meterChatModel(
        new ChatAnthropic({
          model: MODEL,
          apiKey: 'test',
          maxRetries: 0,
          clientOptions: { baseURL: server.baseURL },
        }),
      );
    const task = (limit: number, key = 'run') => defineBudget({ scope: 'task', key, limit });
    const billed = () => {
      const t = server.tally;
      return t.inputTokens + t.cacheReadInputTokens + t.cacheCreationInputTokens + t.outputTokens;
    };
    const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;
    const within = <T>(budget: Budget, fn: () => Promise<T>) =>
      runWithBudgets(ledger, [budget], fn);

    it.skipIf(!run)(
      'invoke: clamps max_tokens to the budget, settles from usage_metadata, and the usage event names the model',
      async () => {
        const model = chat();
        const budget = task(2_000);
        const reply = await within(budget, () => model.invoke('Say hello.'));
        const sent = server.requests[0]!.body as { max_tokens: number };
        // The model asks for its default cap (64,000 for Haiku 4.5); the budget grants what is left.
        expect(sent.max_tokens).toBeLessThan(2_000);
        expect(reply.usage_metadata!.output_tokens).toBe(300);
        const { used: spent, reserved } = await used(budget);
        expect(spent).toBe(billed());
        expect(spent).toBe(reply.usage_metadata!.input_tokens + 300);
        expect(reserved).toBe(0);
        const usage = events.filter((e) => e.type === 'usage');
        expect(usage).toHaveLength(1);
        expect(usage[0]).toMatchObject({
          scope: 'task',
          details: { model: MODEL, outputTokens: 300, source: 'provider' },
        });
      },
    );

    it.skipIf(!run)(
      'refuses a call the budget cannot hold before the provider is reached',
      async () => {
        const model = chat();
        const budget = task(20);
        const error = await within(budget, () =>
          model.invoke('Please review every line of this contract carefully. '.repeat(5)),
        ).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BudgetExceededError);
        expect(error).toMatchObject({ scope: 'task', key: 'run', limit: 20, used: 0 });
        expect(server.requests).toHaveLength(0);
        expect(events.map((e) => e.type)).toEqual(['refused']);
      },
    );

    it.skipIf(!run)('bindTools, batch and stream go through the same metering', async () => {
      const search = tool(async () => 'nothing', {
        name: 'search',
        description: 'Searches the documents.',
        schema: z.object({ query: z.string() }),
      });
      const model = chat();
      const budget = task(50_000);
      const bound = model.bindTools([search], { tool_choice: 'any' });
      const called = await within(budget, () => bound.invoke('Find the invoices.'));
      expect(called.tool_calls?.[0]?.name).toBe('search');
      const batch = await within(budget, () => model.batch(['One.', 'Two.', 'Three.']));
      expect(batch).toHaveLength(3);
      const chunks = await within(budget, async () => {
        const out: string[] = [];
        for await (const chunk of await model.stream('Stream it.')) out.push(chunk.text);
        return out;
      });
      expect(chunks.join('').length).toBeGreaterThan(0);
      expect(server.tally.requests).toBe(5);
      expect((await used(budget)).used).toBe(billed());
      expect(events.filter((e) => e.type === 'usage')).toHaveLength(5);
      // The tool definition was counted: the bound call reserved more input than a bare one.
    });

    it.skipIf(!run)(
      'ends a stream inside the budget: the output cap is the budget, and the loop ends with BudgetExceededError',
      async () => {
        const model = chat();
        const budget = task(200);
        let text = '';
        const error = await within(budget, async () => {
          for await (const chunk of await model.stream('Write a long essay.')) text += chunk.text;
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BudgetExceededError);
        expect(text.length).toBeGreaterThan(0);
        expect(billed()).toBeLessThanOrEqual(200);
        expect((await used(budget)).used).toBe(billed());
      },
    );

    it.skipIf(!run)('charges a stream dropped after two chunks at least its bill', async () => {
      const model = chat();
      const budget = task(50_000);
      await within(budget, async () => {
        let n = 0;
        for await (const _chunk of await model.stream('Write a long essay.')) if (++n === 2) break;
      });
      await server.settled();
      // The stream is read as it arrives: what came before the break is charged (its usage when
      // the whole answer came, else the input and the output granted: thinking is billed unseen).
      const spent = (await used(budget)).used;
      expect(spent).toBeGreaterThan(0);
      expect(spent).toBeGreaterThanOrEqual(billed());
      expect(events.filter((e) => e.type === 'usage')).toEqual([
        expect.objectContaining({ details: expect.objectContaining({ model: MODEL }) }),
      ]);
    });

    it.skipIf(!run)(
      'a Claude stream left before its usage came is charged its input and the output granted (thinking is billed unseen)',
      async () => {
        // Slow chunks: the caller leaves long before the answer (and its message_delta) arrives.
        const slow = await startFakeAnthropic({
          replyTokens: 300,
          chunkDelayMs: 5,
          keepAlive: false,
        });
        try {
          const model = meterChatModel(
            new ChatAnthropic({
              model: MODEL,
              apiKey: 'test',
              maxRetries: 0,
              maxTokens: 2_000,
              clientOptions: { baseURL: slow.baseURL },
            }),
          );
          const budget = task(50_000, 'left-early');
          await within(budget, async () => {
            let n = 0;
            for await (const _chunk of await model.stream('Write a long essay.'))
              if (++n === 2) break;
          });
          await slow.settled();
          const usage = events.filter((e) => e.type === 'usage');
          expect(usage).toEqual([
            expect.objectContaining({
              details: expect.objectContaining({ outputTokens: 2_000, source: 'estimate' }),
            }),
          ]);
          const input = (usage[0] as { details: { inputTokens: number } }).details.inputTokens;
          expect(input).toBeGreaterThan(0);
          expect((await used(budget)).used).toBe(input + 2_000);
          expect(slow.tally.outputTokens).toBeLessThan(300);
        } finally {
          await slow.close();
        }
      },
    );

    it.skipIf(!run)(
      '30 parallel calls in one budget never make the provider bill past it',
      async () => {
        const model = chat();
        const budget = task(3_000, 'parallel');
        const results = await within(budget, () =>
          Promise.allSettled(Array.from({ length: 30 }, (_, i) => model.invoke(`Question ${i}?`))),
        );
        const refused = results.filter(
          (r) => r.status === 'rejected' && r.reason instanceof BudgetExceededError,
        );
        const answered = results.filter((r) => r.status === 'fulfilled');
        expect(answered.length + refused.length).toBe(30);
        expect(refused.length).toBeGreaterThan(0);
        expect(server.tally.requests).toBe(answered.length);
        expect(billed()).toBeLessThanOrEqual(3_000);
        expect((await used(budget)).used).toBe(billed());
      },
    );

    describe('createAgent with budgetMiddleware: a runaway tool loop', () => {
      // The agent's bug: its search never says "done", and it is made to call a tool every turn.
      const alwaysSearch = createMiddleware({
        name: 'AlwaysSearch',
        wrapModelCall: (request, handler) => handler({ ...request, toolChoice: 'required' }),
      });
      function runaway(onExceeded?: 'end' | 'throw') {
        let searches = 0;
        const search = tool(
          async ({ query }) => {
            searches++;
            return `Results for ${query}: `.concat('more pages to read. '.repeat(40));
          },
          {
            name: 'search',
            description: 'Searches the documents.',
            schema: z.object({ query: z.string() }),
          },
        );
        const model = new ChatAnthropic({
          model: MODEL,
          apiKey: 'test',
          maxRetries: 0,
          clientOptions: { baseURL: server.baseURL },
        });
        const agent = createAgent({
          model,
          tools: [search],
          middleware: [budgetMiddleware(onExceeded ? { onExceeded } : {}), alwaysSearch],
        });
        return { agent, searches: () => searches };
      }
      const input = { messages: [{ role: 'user', content: 'Research our costs.' }] };

      it.skipIf(!run)(
        'stops the loop at the task budget with a last message naming it; the provider billed at most the limit',
        async () => {
          const { agent, searches } = runaway();
          const budget = task(8_000, 'agent');
          const state = await within(budget, () => agent.invoke(input, { recursionLimit: 1_000 }));
          const last = state.messages.at(-1)!;
          expect(last.response_metadata).toMatchObject({
            tokencap: {
              refused: { scope: 'task', key: 'agent', dimension: 'tokens', limit: 8_000 },
            },
          });
          expect(String(last.content)).toMatch(
            /^Stopped by the "task" budget: Budget "task" \(key "agent"\) exceeded: the call needs \d+ tokens but only \d+ of 8000 tokens remain/,
          );
          const turns = server.tally.requests;
          expect(turns).toBeGreaterThan(3);
          // Every answered turn asked for a search, and every search ran: the loop was real.
          expect(searches()).toBe(turns);
          expect(billed()).toBeLessThanOrEqual(8_000);
          expect((await used(budget)).used).toBe(billed());
          expect(events.filter((e) => e.type === 'usage')).toHaveLength(turns);
          expect(events.filter((e) => e.type === 'refused')).toHaveLength(1);
        },
      );

      it.skipIf(!run)(
        "onExceeded 'throw' rejects the run with LangChain's MiddlewareError caused by the refusal",
        async () => {
          const { agent } = runaway('throw');
          const budget = task(4_000, 'agent-throw');
          const error = await within(budget, () =>
            agent.invoke(input, { recursionLimit: 1_000 }),
          ).catch((e: unknown) => e);
          expect(error).toMatchObject({ name: 'BudgetExceededError', '~brand': 'MiddlewareError' });
          const cause = (error as Error).cause;
          expect(cause).toBeInstanceOf(BudgetExceededError);
          expect(cause).toMatchObject({ scope: 'task', key: 'agent-throw', limit: 4_000 });
          expect(billed()).toBeLessThanOrEqual(4_000);
        },
      );
    });
  },
);
