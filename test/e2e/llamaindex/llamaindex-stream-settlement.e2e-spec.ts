import { OpenAI } from '@llamaindex/openai';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';
import { startFakeOpenAI } from '../../../lib/testing/index.js';
import { llamaIndexOn } from '../../fixtures/llamaindex.fixture.js';
import { useFakeOpenAIAndLedger } from '../../fixtures/openai.fixture.js';
import { collectGarbage } from '../../support/gc.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('tokencap/llamaindex: how a stream is settled (refused, never read, left by a slow reader)', () => {
  // Ten chunks of ten tokens, 1 ms apart: the whole answer and its usage reach the process long
  // before a reader pausing 150 ms a chunk leaves after its second.
  const t = useFakeOpenAIAndLedger({
    replyTokens: 100,
    tokensPerChunk: 10,
    chunkDelayMs: 1,
  });

  const { llm, tokens } = llamaIndexOn(t);
  const hello = [{ role: 'user' as const, content: 'Say hello.' }];
  // A RAG-sized prompt: charging it for a refused call is a visible loss.
  const context = [{ role: 'user' as const, content: 'lorem ipsum dolor sit amet '.repeat(4_000) }];

  for (const status of [429, 500, 400]) {
    it(`a stream refused with HTTP ${status} is released, charged nothing (as a plain call is)`, async () => {
      const model = llm();
      for (const stream of [false, true]) {
        t.server.fail({ kind: 'error', status });
        const budget = defineBudget({
          scope: 'task',
          key: `http-${status}-${stream}`,
          limit: 100_000,
        });
        const error = await runWithBudgets(t.ledger, [budget], async () => {
          if (!stream) return model.chat({ messages: context });
          for await (const _chunk of await model.chat({ messages: context, stream: true })) {
            // read on
          }
        }).catch((e: unknown) => e);
        expect(error).toMatchObject({ status });
        // Before the fix the stream was charged its whole prompt: 20,009 tokens nobody billed.
        expect(await tokens(budget)).toMatchObject({ used: 0, reserved: 0 });
      }
      expect(t.server.requests).toHaveLength(2);
      expect(t.server.tally.totalTokens).toBe(0);
    });
  }

  it('a stream closed with return() before its first next() sent nothing and is released at once', async () => {
    const model = llm();
    const budget = defineBudget({ scope: 'task', key: 'return', limit: 1_000 });
    await runWithBudgets(t.ledger, [budget], async () => {
      const stream = await model.chat({ messages: hello, stream: true });
      expect((await tokens(budget)).reserved).toBe(1_000);
      await stream[Symbol.asyncIterator]().return?.(undefined);
      // Before the fix: still reserved 1,000 (the whole budget) until GC and reservationTtl.
      expect(await tokens(budget)).toMatchObject({ used: 0, reserved: 0 });
    });
    expect(t.server.requests).toHaveLength(0);
    // The budget is whole again: the next call is granted all of it.
    await runWithBudgets(t.ledger, [budget], () => model.chat({ messages: hello }));
    expect(t.server.requests[0]!.body).toMatchObject({ max_tokens: 1_000 - 10 });
  });

  it('a stream never read sent nothing and is released when collected, long before reservationTtl', async () => {
    const model = llm();
    const budget = defineBudget({ scope: 'task', key: 'never-read', limit: 1_000 });
    await runWithBudgets(t.ledger, [budget], async () => {
      await model.chat({ messages: hello, stream: true });
    });
    expect((await tokens(budget)).reserved).toBe(1_000);
    await collectGarbage();
    // Before the fix: reserved 1,000 after collection, until the 15-minute reservationTtl.
    expect(await tokens(budget)).toMatchObject({ used: 0, reserved: 0 });
    expect(t.server.requests).toHaveLength(0);
  });

  it('a slow reader leaving after 2 chunks is charged everything that arrived: what the provider billed', async () => {
    const model = llm();
    const budget = defineBudget({ scope: 'task', key: 'slow', limit: 100_000 });
    let read = 0;
    await runWithBudgets(t.ledger, [budget], async () => {
      for await (const _chunk of await model.chat({ messages: hello, stream: true })) {
        // Slower than the model: the whole answer and its usage arrive meanwhile.
        await sleep(150);
        if (++read === 2) break;
      }
    });
    await t.server.settled();
    expect(read).toBe(2);
    // Billed the 10-token prompt and the whole 100-token answer; before the fix charged 10 + 20
    // (the prompt and the two chunks read).
    expect(t.server.tally.totalTokens).toBe(110);
    expect(await tokens(budget)).toMatchObject({ used: 110, reserved: 0 });
  });

  it('slow readers leaving early cannot take a hard-stop budget past its limit', async () => {
    const model = llm();
    const budget = defineBudget({ scope: 'task', key: 'slow-hard', limit: 1_000 });
    let calls = 0;
    let refused: unknown;
    while (calls < 20) {
      try {
        await runWithBudgets(t.ledger, [budget], async () => {
          let read = 0;
          for await (const _chunk of await model.chat({ messages: hello, stream: true })) {
            await sleep(150);
            if (++read === 2) break;
          }
        });
        calls++;
      } catch (error) {
        refused = error;
        break;
      }
    }
    await t.server.settled();
    expect(refused).toBeInstanceOf(BudgetExceededError);
    // 9 calls charged the 110 each was billed; the 10 tokens left cannot hold a 10th call's
    // prompt and answer. Before the fix 20 calls ran, each charged 30 of the 110 billed: 2,200
    // billed on a 1,000-token budget.
    expect(calls).toBe(9);
    expect(t.server.tally.totalTokens).toBe(990);
    expect(await tokens(budget)).toMatchObject({ used: 990, reserved: 0 });
  });

  it('a slow reader leaving mid-answer aborts the request and is charged what had arrived', async () => {
    const long = await startFakeOpenAI({ replyTokens: 2_000, chunkDelayMs: 5, keepAlive: false });
    try {
      const model = meterLLM(
        new OpenAI({ model: 'gpt-4o-mini', apiKey: 'test', maxRetries: 0, baseURL: long.baseURL }),
      );
      const budget = defineBudget({ scope: 'task', key: 'mid', limit: 100_000 });
      let read = 0;
      await runWithBudgets(t.ledger, [budget], async () => {
        for await (const _chunk of await model.chat({ messages: hello, stream: true })) {
          await sleep(150);
          if (++read === 2) break;
        }
      });
      await long.settled();
      const billed = long.tally.totalTokens;
      // Aborted when the reader left (about 300 ms in), not run to its 2,000 tokens.
      expect(billed).toBeGreaterThan(10 + 20);
      expect(billed).toBeLessThan(10 + 400);
      const { used, reserved } = await tokens(budget);
      expect(reserved).toBe(0);
      // Everything that reached the process; at most a chunk or two was in flight at the abort.
      // Before the fix: 12 (the prompt and the 2 chunks read).
      expect(used).toBeGreaterThanOrEqual(billed - 3);
      expect(used).toBeLessThanOrEqual(billed);
    } finally {
      await long.close();
    }
  });
});
