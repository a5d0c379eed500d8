import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAI } from '@llamaindex/openai';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';
import { llamaIndexOn } from '../../fixtures/llamaindex.fixture.js';
import { useFakeOpenAIAndLedger } from '../../fixtures/openai.fixture.js';

const REPLY = 2_000;

describe('tokencap/llamaindex: leaving or cutting a stream closes its HTTP request', () => {
  // Slow chunks: the whole answer cannot have been sent by the time the client leaves.
  const t = useFakeOpenAIAndLedger({ replyTokens: REPLY, chunkDelayMs: 5 });

  const { llm, tokens: used } = llamaIndexOn(t);
  const messages = [{ role: 'user' as const, content: 'Tell me a long story.' }];

  it('a loop left by break after 5 chunks aborts the request: the provider stops billing', async () => {
    const budget = defineBudget({ scope: 'task', key: 'break', limit: 100_000 });
    let chunks = 0;
    await runWithBudgets(t.ledger, [budget], async () => {
      for await (const _chunk of await llm().chat({ messages, stream: true })) {
        if (++chunks === 5) break;
      }
    });
    await t.server.settled();
    expect(chunks).toBe(5);
    // Aborted at once: a chunk or two in flight, never the 2,000-token answer.
    expect(t.server.tally.completionTokens).toBeLessThan(REPLY / 4);
    // Charged the whole input and every chunk the reader saw (one token each).
    expect((await used(budget)).used).toBeGreaterThanOrEqual(t.server.tally.promptTokens + 5);
    expect((await used(budget)).reserved).toBe(0);
  });

  it('a t.server that ignores the cap is cut at the grant, ending with BudgetExceededError, and its request is closed', async () => {
    const rogue = await startCapIgnoringServer();
    try {
      const budget = defineBudget({ scope: 'task', key: 'cut', limit: 300 });
      const model = meterLLM(
        new OpenAI({ model: 'gpt-4o-mini', apiKey: 'test', maxRetries: 0, baseURL: rogue.baseURL }),
      );
      const error = await runWithBudgets(t.ledger, [budget], async () => {
        for await (const _chunk of await model.chat({ messages, stream: true })) {
          // read on
        }
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BudgetExceededError);
      expect(error).toMatchObject({ scope: 'task', key: 'cut', limit: 300 });
      await rogue.closed;
      // The connection closed well before the 2,000 chunks it would otherwise have sent.
      expect(rogue.sent()).toBeLessThan(REPLY / 2);
    } finally {
      rogue.server.close();
    }
  });
});

/** A Chat Completions server that streams 2,000 one-word chunks whatever max_tokens says. */
async function startCapIgnoringServer() {
  let sent = 0;
  let closedBy: () => void = () => {};
  const closed = new Promise<void>((resolve) => (closedBy = resolve));
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.on('close', () => closedBy());
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      if (sent === REPLY) {
        clearInterval(timer);
        res.end(chunk({}, 'stop') + 'data: [DONE]\n\n');
        return;
      }
      sent++;
      res.write(chunk({ content: ' word' }));
    }, 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, closed, sent: () => sent, baseURL: `http://127.0.0.1:${port}/v1` };
}
