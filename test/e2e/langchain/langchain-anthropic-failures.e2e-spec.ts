import { ChatAnthropic } from '@langchain/anthropic';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import { type FakeAnthropicServer, startFakeAnthropic } from '../../../lib/testing/index.js';

// Requests that fail, against the fake Anthropic API: it validates thinking as the API does
// (budget_tokens >= 1024 and below max_tokens), bills every request it ran, and bills nothing for
// an HTTP error. The ledger must hold at least the bill, and the bill stay within the budget.
const MODEL = 'claude-haiku-4-5';

describe('tokencap/langchain with ChatAnthropic: failed requests and extended thinking', () => {
  let server: FakeAnthropicServer;
  let ledger: Ledger;

  beforeAll(async () => {
    server = await startFakeAnthropic({ replyTokens: 2_000, thinkingTokens: 2_000 });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await server.settled();
    server.reset();
  });

  const chat = (fields: ConstructorParameters<typeof ChatAnthropic>[0] = {}) => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    return meterChatModel(
      new ChatAnthropic({
        model: MODEL,
        apiKey: 'test',
        maxRetries: 0,
        clientOptions: { baseURL: server.baseURL },
        ...fields,
      }),
    );
  };
  const task = (limit: number) => defineBudget({ scope: 'task', key: 'run', limit });
  const billed = () => {
    const t = server.tally;
    return t.inputTokens + t.cacheReadInputTokens + t.cacheCreationInputTokens + t.outputTokens;
  };
  const used = async (budget: Budget) => (await ledger.usage([budget]))[0]!.dimensions.tokens!;
  const within = <T>(budget: Budget, fn: () => Promise<T>) => runWithBudgets(ledger, [budget], fn);
  /** Invokes the model, or streams it and reads the stream to its end. */
  const send = async (model: ChatAnthropic, stream: boolean, prompt: string) => {
    if (!stream) return model.invoke(prompt);
    for await (const _chunk of await model.stream(prompt)) {
      // read to the end
    }
  };

  describe('LC-1: the clamp keeps extended thinking valid', () => {
    const thinking = { type: 'enabled' as const, budget_tokens: 1_500 };

    for (const stream of [false, true]) {
      for (const limit of [1_300, 1_500, 3_000]) {
        it(`lowers budget_tokens below the clamped max_tokens (limit ${limit}, stream: ${stream})`, async () => {
          const model = chat({ maxTokens: 8_000, thinking });
          const budget = task(limit);
          const outcome = await within(budget, () => send(model, stream, 'Think it over.')).then(
            () => 'answered',
            (e: unknown) => e,
          );
          // A stream the budget's cap cut short ends with BudgetExceededError; never an API 400.
          if (outcome !== 'answered') expect(outcome).toBeInstanceOf(BudgetExceededError);
          const sent = server.requests[0]!.body as {
            max_tokens: number;
            thinking: { budget_tokens: number };
          };
          expect(sent.max_tokens).toBeLessThan(limit);
          expect(sent.thinking.budget_tokens).toBeGreaterThanOrEqual(1_024);
          expect(sent.thinking.budget_tokens).toBeLessThan(sent.max_tokens);
          // Lowered only as far as the clamp needs.
          expect(sent.thinking.budget_tokens).toBe(Math.min(1_500, sent.max_tokens - 1));
          expect(billed()).toBeLessThanOrEqual(limit);
          expect((await used(budget)).used).toBe(billed());
        });
      }

      it(`refuses before sending when the budget cannot grant 1025 output tokens (stream: ${stream})`, async () => {
        const model = chat({ maxTokens: 8_000, thinking });
        const budget = task(1_030);
        const error = await within(budget, () => send(model, stream, 'Think it over.')).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(BudgetExceededError);
        expect(server.requests).toHaveLength(0);
        expect(await used(budget)).toMatchObject({ used: 0, reserved: 0 });
      });
    }

    it('lowers a budget set in invocationKwargs too', async () => {
      const model = chat({ maxTokens: 8_000, invocationKwargs: { thinking } });
      const budget = task(1_300);
      await within(budget, () => model.invoke('Think it over.'));
      const sent = server.requests[0]!.body as {
        max_tokens: number;
        thinking: { budget_tokens: number };
      };
      expect(sent.thinking.budget_tokens).toBe(sent.max_tokens - 1);
      expect((await used(budget)).used).toBe(billed());
    });
  });

  describe('LC-2: a stream whose request fails with an HTTP error is released', () => {
    for (const status of [400, 429, 500, 529]) {
      it(`HTTP ${status}: nothing billed, nothing charged`, async () => {
        const model = chat({ maxTokens: 1_000 });
        const budget = task(50_000);
        server.fail({ kind: 'error', status });
        const error = await within(budget, () => send(model, true, 'Hello.')).catch(
          (e: unknown) => e,
        );
        expect(error).toMatchObject({ status });
        expect(billed()).toBe(0);
        expect(await used(budget)).toMatchObject({ used: 0, reserved: 0 });
      });
    }

    it('a 529 then an answer, with retries: only the answer is charged', async () => {
      const model = chat({ maxTokens: 1_000, maxRetries: 2 });
      const budget = task(50_000);
      server.fail({ kind: 'error', status: 529 });
      await within(budget, () => send(model, true, 'Hello.'));
      expect(server.requests).toHaveLength(2);
      expect(await used(budget)).toMatchObject({ used: billed(), reserved: 0 });
    });
  });

  describe('LC-3: a connection dropped after the request ran is charged', () => {
    for (const stream of [false, true]) {
      it(`charged at least the bill (stream: ${stream})`, async () => {
        const model = chat({ maxTokens: 700 });
        const budget = task(50_000);
        server.fail({ kind: 'drop-after-billing' });
        const error = await within(budget, () => send(model, stream, 'Hello.')).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        await server.settled();
        expect(billed()).toBeGreaterThan(700);
        const { used: spent, reserved } = await used(budget);
        expect(reserved).toBe(0);
        expect(spent).toBeGreaterThanOrEqual(billed());
      });

      it(`with retries, every attempt is charged and the budget stops them (stream: ${stream})`, async () => {
        const model = chat({ maxTokens: 700, maxRetries: 2 });
        const budget = task(1_000);
        server.fail({ kind: 'drop-after-billing' }, { times: 10 });
        const error = await within(budget, () => send(model, stream, 'Hello.')).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        await server.settled();
        // The first attempt took most of the budget, the second was clamped to the rest, the third
        // was refused before it was sent.
        expect(server.requests).toHaveLength(2);
        expect(error).toBeInstanceOf(BudgetExceededError);
        expect(billed()).toBeLessThanOrEqual(1_000);
        const { used: spent, reserved } = await used(budget);
        expect(reserved).toBe(0);
        expect(spent).toBeGreaterThanOrEqual(billed());
        expect(spent).toBeLessThanOrEqual(1_000);
      }, 20_000);
    }

    it('a connection never made is released', async () => {
      ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
      const model = meterChatModel(
        new ChatAnthropic({
          model: MODEL,
          apiKey: 'test',
          maxRetries: 0,
          maxTokens: 700,
          clientOptions: { baseURL: `http://127.0.0.1:${await closedPort()}` },
        }),
      );
      const budget = task(50_000);
      const error = await within(budget, () => model.invoke('Hello.')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(await used(budget)).toMatchObject({ used: 0, reserved: 0 });
    });
  });
});

/** A loopback port nothing listens on: a connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
