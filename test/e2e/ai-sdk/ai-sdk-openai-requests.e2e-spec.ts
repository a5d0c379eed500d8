import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Budget, type BudgetLimit, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent, UsageEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { budgetMiddleware } from '../../../lib/frameworks/ai-sdk/index.js';
import {
  CACHED_TOKENS_HEADER,
  type FakeOpenAIServer,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// What `@ai-sdk/openai` sends and reports, through budgetMiddleware: the cache reads of its chat
// and Responses models, and the one output cap a chat call may carry.
describeOnNode(22, 'budgetMiddleware with @ai-sdk/openai: cached input and output caps', () => {
  let server: FakeOpenAIServer;
  let ledger: Ledger;
  let events: TokencapEvent[];

  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: 500, keepAlive: false });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await server.settled();
    server.reset();
  });

  // `name: 'azure'` gives the provider id `azure.chat`: @ai-sdk/azure's chat models are this class
  // under that id, and read providerOptions.openai then providerOptions.azure.
  const model = (api: 'chat' | 'responses', id: string, name?: 'azure') => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    events = [];
    ledger.events$.subscribe((e) => events.push(e));
    const provider = createOpenAI({ apiKey: 'test', baseURL: server.baseURL, name });
    return wrapLanguageModel({
      model: api === 'chat' ? provider.chat(id) : provider.responses(id),
      middleware: budgetMiddleware(),
    });
  };
  const task = (limit: BudgetLimit | number) => defineBudget({ scope: 'task', key: 't', limit });
  const usage = async (budget: Budget) => (await ledger.usage([budget]))[0]!;
  const charges = () => events.filter((e): e is UsageEvent => e.type === 'usage');
  const billed = () => server.tally.promptTokens + server.tally.completionTokens;

  describe('cache reads are priced at the cached rate, for chat and Responses models alike', () => {
    for (const api of ['chat', 'responses'] as const) {
      for (const stream of [false, true]) {
        it(`${api}, ${stream ? 'streamText' : 'generateText'}`, async () => {
          const wrapped = model(api, 'gpt-4o');
          const budget = task({ usd: 1, tokens: 100_000 });
          const options = {
            model: wrapped,
            prompt: 'word '.repeat(2000),
            maxOutputTokens: 20,
            headers: { [CACHED_TOKENS_HEADER]: '1024' },
          };
          await runWithBudgets(ledger, [budget], async () => {
            if (!stream) return void (await generateText(options));
            for await (const _text of streamText(options).textStream) {
              // read to the end
            }
          });
          const prompt = server.tally.promptTokens;
          expect(server.tally.cachedTokens).toBe(1024);
          expect(server.tally.completionTokens).toBe(20);
          expect(charges().map((e) => e.details)).toEqual([
            expect.objectContaining({
              inputTokens: prompt,
              cachedInputTokens: 1024,
              outputTokens: 20,
              source: 'provider',
            }),
          ]);
          // gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M tokens, in micro-dollars rounded up.
          const micros = Math.ceil((prompt - 1024) * 2.5 + 1024 * 1.25 + 20 * 10);
          const spent = await usage(budget);
          expect(spent.dimensions.usd?.used).toBe(micros / 1e6);
          expect(spent.dimensions.tokens?.used).toBe(prompt + 20);
        });
      }
    }
  });

  describe("providerOptions.openai.maxCompletionTokens on a chat model: one cap sent, OpenAI's 400 never provoked", () => {
    const sentCaps = () =>
      server.requests.map((r) => {
        const body = r.body as Record<string, unknown>;
        return { max_tokens: body.max_tokens, max_completion_tokens: body.max_completion_tokens };
      });

    for (const id of ['gpt-4o-mini', 'o4-mini']) {
      for (const stream of [false, true]) {
        const how = stream ? 'streamText' : 'generateText';
        const send = async (budget: Budget) => {
          const options = {
            model: model('chat', id),
            prompt: 'Tell me a story.',
            maxRetries: 0,
            providerOptions: { openai: { maxCompletionTokens: 5_000 } },
          };
          return runWithBudgets(ledger, [budget], async () => {
            if (!stream) return (await generateText(options)).finishReason;
            const result = streamText({ ...options, onError: () => {} });
            try {
              for await (const _text of result.textStream) {
                // read to the end
              }
            } catch (error) {
              // A stream the budget's cap cut ends with BudgetExceededError (see docs/ai-sdk.md).
              return error;
            }
            return result.finishReason;
          });
        };

        it(`${id}, ${how}, clamped by hard-stop: max_completion_tokens lowered, no max_tokens added`, async () => {
          const limit = 300;
          const budget = task(limit);
          const outcome = await send(budget);
          if (stream) expect(outcome).toBeInstanceOf(BudgetExceededError);
          else expect(outcome).toBe('length');
          expect(server.requests).toHaveLength(1);
          const prompt = server.tally.promptTokens;
          expect(sentCaps()).toEqual([
            { max_tokens: undefined, max_completion_tokens: limit - prompt },
          ]);
          expect(billed()).toBeLessThanOrEqual(limit);
          expect(await usage(budget)).toMatchObject({ used: billed(), reserved: 0 });
        });

        it(`${id}, ${how}, not clamped: sent as the caller wrote it`, async () => {
          const budget = task(1_000_000);
          expect(await send(budget)).toBe('stop');
          expect(sentCaps()).toEqual([{ max_tokens: undefined, max_completion_tokens: 5_000 }]);
          expect(await usage(budget)).toMatchObject({ used: billed(), reserved: 0 });
        });
      }
    }

    it('an Azure chat model: providerOptions.azure.maxCompletionTokens (which wins over openai) is the cap lowered', async () => {
      const limit = 300;
      const send = async (providerOptions: Record<string, Record<string, number>>) => {
        server.reset();
        const budget = task(limit);
        const wrapped = model('chat', 'gpt-4o-mini', 'azure');
        await runWithBudgets(ledger, [budget], () =>
          generateText({
            model: wrapped,
            prompt: 'Tell me a story.',
            maxRetries: 0,
            providerOptions,
          }),
        );
        expect(billed()).toBeLessThanOrEqual(limit);
        expect(await usage(budget)).toMatchObject({ used: billed(), reserved: 0 });
        return { prompt: server.tally.promptTokens, caps: sentCaps() };
      };
      const cases: Record<string, Record<string, number>>[] = [
        { azure: { maxCompletionTokens: 5_000 } },
        { openai: { maxCompletionTokens: 9_000 }, azure: { maxCompletionTokens: 5_000 } },
        { openai: { maxCompletionTokens: 5_000 } },
      ];
      for (const options of cases) {
        const { prompt, caps } = await send(options);
        expect(caps).toEqual([{ max_tokens: undefined, max_completion_tokens: limit - prompt }]);
      }
      // Not clamped: sent as written, the azure value over the openai one.
      server.reset();
      const budget = task(1_000_000);
      await runWithBudgets(ledger, [budget], () =>
        generateText({
          model: model('chat', 'gpt-4o-mini', 'azure'),
          prompt: 'Hi',
          providerOptions: {
            openai: { maxCompletionTokens: 9 },
            azure: { maxCompletionTokens: 7 },
          },
        }),
      );
      expect(sentCaps()).toEqual([{ max_tokens: undefined, max_completion_tokens: 7 }]);
      expect(server.tally.completionTokens).toBe(7);
    });

    it('maxOutputTokens alone is still lowered as max_tokens, with no max_completion_tokens', async () => {
      const budget = task(200);
      const wrapped = model('chat', 'gpt-4o-mini');
      await runWithBudgets(ledger, [budget], () =>
        generateText({ model: wrapped, prompt: 'Hi', maxOutputTokens: 5_000 }),
      );
      const prompt = server.tally.promptTokens;
      expect(sentCaps()).toEqual([{ max_tokens: 200 - prompt, max_completion_tokens: undefined }]);
      expect(await usage(budget)).toMatchObject({ used: 200, reserved: 0 });
    });

    it('a Responses model, which ignores maxCompletionTokens, is clamped with max_output_tokens', async () => {
      const budget = task(200);
      const wrapped = model('responses', 'gpt-4o-mini');
      await runWithBudgets(ledger, [budget], () =>
        generateText({
          model: wrapped,
          prompt: 'Hi',
          providerOptions: { openai: { maxCompletionTokens: 5_000 } },
        }),
      );
      const prompt = server.tally.promptTokens;
      const body = server.requests[0]!.body as Record<string, unknown>;
      expect(body.max_output_tokens).toBe(200 - prompt);
      expect(await usage(budget)).toMatchObject({ used: 200, reserved: 0 });
    });
  });
});
