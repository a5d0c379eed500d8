import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, type LanguageModel, streamText, wrapLanguageModel } from 'ai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { budgetMiddleware } from '../../../lib/frameworks/ai-sdk/index.js';
import {
  type FakeAnthropicServer,
  type FakeOpenAIServer,
  startFakeAnthropic,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// Requests whose connection fails after they left, against the fakes: they bill every request
// they ran. The ledger must hold at least the bill, and the bill stay within a hard-stop budget.
describeOnNode(22, 'budgetMiddleware: connections that fail after the request left', () => {
  let anthropic: FakeAnthropicServer;
  let openai: FakeOpenAIServer;
  let ledger: Ledger;

  beforeAll(async () => {
    anthropic = await startFakeAnthropic({ replyTokens: 2_000 });
    openai = await startFakeOpenAI({ replyTokens: 2_000 });
  });
  afterAll(async () => {
    await anthropic.close();
    await openai.close();
  });
  afterEach(async () => {
    await anthropic.settled();
    anthropic.reset();
    openai.reset();
  });

  const claude = () => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    const provider = createAnthropic({ baseURL: `${anthropic.baseURL}/v1`, apiKey: 'test' });
    return wrapLanguageModel({
      model: provider('claude-haiku-4-5'),
      middleware: budgetMiddleware(),
    });
  };
  const gpt = () => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    const provider = createOpenAI({ baseURL: openai.baseURL, apiKey: 'test' });
    return wrapLanguageModel({
      model: provider.chat('gpt-4o-mini'),
      middleware: budgetMiddleware(),
    });
  };
  const task = (limit: number) => defineBudget({ scope: 'task', key: 'run', limit });
  const anthropicBill = () => anthropic.tally.inputTokens + anthropic.tally.outputTokens;
  const openaiBill = () => openai.tally.promptTokens + openai.tally.completionTokens;
  const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;
  const within = <T>(budget: Budget, fn: () => Promise<T>) => runWithBudgets(ledger, [budget], fn);
  /** Generates, or streams and reads the stream to its end; the error that ended it, if any. */
  const send = async (model: LanguageModel, stream: boolean, maxRetries: number) => {
    const options = { model, prompt: 'Hello there.', maxOutputTokens: 700, maxRetries };
    if (!stream) return generateText(options).then(() => undefined);
    let failure: unknown;
    const result = streamText({ ...options, onError: ({ error }) => void (failure = error) });
    for await (const _part of result.fullStream) {
      // read to the end
    }
    return failure;
  };

  describe('AI-1: a 200 stream closed before its first event is charged, never 0', () => {
    it('@ai-sdk/anthropic: charged the counted input and the grant', async () => {
      const model = claude();
      const budget = task(50_000);
      anthropic.fail({ kind: 'empty-stream' });
      await within(budget, () => send(model, true, 0)).catch((e: unknown) => e);
      await anthropic.settled();
      expect(anthropicBill()).toBeGreaterThan(0);
      const { used: spent, reserved } = await used(budget);
      expect(reserved).toBe(0);
      expect(spent).toBeGreaterThan(700);
      expect(spent).toBeGreaterThanOrEqual(anthropicBill());
    });

    it('@ai-sdk/openai (chat): charged the counted input and the output seen', async () => {
      const model = gpt();
      const budget = task(50_000);
      openai.fail({ kind: 'empty-stream' });
      await within(budget, () => send(model, true, 0)).catch((e: unknown) => e);
      expect(openaiBill()).toBeGreaterThan(0);
      const { used: spent, reserved } = await used(budget);
      expect(reserved).toBe(0);
      expect(spent).toBe(openaiBill());
    });
  });

  describe('AI-2: a connection dropped after the request ran is charged', () => {
    for (const stream of [false, true]) {
      const how = stream ? 'streamText' : 'generateText';

      it(`@ai-sdk/anthropic, ${how}: charged at least the bill`, async () => {
        const model = claude();
        const budget = task(50_000);
        anthropic.fail({ kind: 'drop-after-billing' });
        const error = await within(budget, () => send(model, stream, 0)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        await anthropic.settled();
        expect(anthropicBill()).toBeGreaterThan(700);
        const { used: spent, reserved } = await used(budget);
        expect(reserved).toBe(0);
        expect(spent).toBeGreaterThanOrEqual(anthropicBill());
      });

      it(`@ai-sdk/anthropic, ${how}: the SDK's retries are charged and the budget stops them`, async () => {
        const model = claude();
        const budget = task(1_000);
        anthropic.fail({ kind: 'drop-after-billing' }, { times: 10 });
        const error = await within(budget, () => send(model, stream, 2)).catch((e: unknown) => e);
        await anthropic.settled();
        // The first attempt took most of the budget, the second was clamped to the rest, the
        // third was refused before it was sent.
        expect(anthropic.requests).toHaveLength(2);
        expect(error).toBeInstanceOf(Error);
        expect(anthropicBill()).toBeLessThanOrEqual(1_000);
        const { used: spent, reserved } = await used(budget);
        expect(reserved).toBe(0);
        expect(spent).toBeGreaterThanOrEqual(anthropicBill());
        expect(spent).toBeLessThanOrEqual(1_000);
      }, 20_000);

      it(`@ai-sdk/openai (chat), ${how}: charged at least the bill`, async () => {
        const model = gpt();
        const budget = task(50_000);
        openai.fail({ kind: 'drop-after-billing' });
        const error = await within(budget, () => send(model, stream, 0)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(openaiBill()).toBeGreaterThan(0);
        const { used: spent, reserved } = await used(budget);
        expect(reserved).toBe(0);
        expect(spent).toBeGreaterThanOrEqual(openaiBill());
      });
    }

    it('an HTTP error is still released', async () => {
      const model = claude();
      const budget = task(50_000);
      anthropic.fail({ kind: 'error', status: 529 });
      const error = await within(budget, () => send(model, false, 0)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(await used(budget)).toMatchObject({ used: 0, reserved: 0 });
    });
  });
});
