import { createOpenAI } from '@ai-sdk/openai';
import type { LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { streamText, wrapLanguageModel } from 'ai';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent, UsageEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { budgetMiddleware } from '../../../lib/frameworks/ai-sdk/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

// The AI SDK stops pulling a model's stream, without cancelling it, when its caller leaves: a
// `break` out of `textStream` / `fullStream`, a Nest `@Sse()` client gone, a `streamText` result
// never read. The provider still generates and bills the whole answer, so the call must be
// charged that answer (its usage report), not held until the reservation lapses at 0.
describeOnNode(22, 'budgetMiddleware: streams the caller stops reading', () => {
  const REPLY = 300;
  let server: FakeOpenAIServer;
  let ledger: Ledger;
  let events: TokencapEvent[];

  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: REPLY, chunkDelayMs: 1, keepAlive: false });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await server.settled();
    server.reset();
  });

  const model = (api: 'chat' | 'responses', id = 'gpt-4o-mini') => {
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    events = [];
    ledger.events$.subscribe((e) => events.push(e));
    const provider = createOpenAI({ apiKey: 'test', baseURL: server.baseURL });
    return wrapLanguageModel({
      model: api === 'chat' ? provider.chat(id) : provider.responses(id),
      middleware: budgetMiddleware(),
    });
  };
  const usage = async (budget: Budget) => (await ledger.usage([budget]))[0]!;
  const billed = () => server.tally.promptTokens + server.tally.completionTokens;
  const charges = () => events.filter((e): e is UsageEvent => e.type === 'usage');
  /** Waits for the request to reach the provider, the answer to end and the call to settle. */
  const settled = async (budget: Budget, requests = 1) => {
    await vi.waitFor(() => expect(server.requests.length).toBeGreaterThanOrEqual(requests));
    await server.settled();
    await vi.waitFor(async () => expect((await usage(budget)).reserved).toBe(0), {
      timeout: 3_000,
    });
  };

  for (const api of ['chat', 'responses'] as const) {
    for (const id of ['gpt-4o-mini', 'o4-mini']) {
      for (const read of ['textStream', 'fullStream'] as const) {
        it(`${api} ${id}: a break out of ${read} is charged the whole answer the provider billed`, async () => {
          const budget = defineBudget({ scope: 'task', key: 'break', limit: 100_000 });
          const wrapped = model(api, id);
          await runWithBudgets(ledger, [budget], async () => {
            const result = streamText({ model: wrapped, prompt: 'Tell me a story.' });
            let parts = 0;
            for await (const _part of result[read]) if (++parts === 5) break;
          });
          await settled(budget);
          expect(server.tally.completionTokens).toBeGreaterThanOrEqual(REPLY);
          expect(await usage(budget)).toMatchObject({ used: billed(), reserved: 0 });
          expect(charges()).toHaveLength(1);
          expect(charges()[0]!.details).toMatchObject({
            model: id,
            inputTokens: server.tally.promptTokens,
            outputTokens: server.tally.completionTokens,
            reasoningTokens: server.tally.reasoningTokens,
            source: 'provider',
          });
        });
      }
    }

    it(`${api}: a streamText result never read is charged what the provider billed`, async () => {
      const wrapped = model(api);
      const budget = defineBudget({ scope: 'task', key: 'unread', limit: 1_000 });
      await runWithBudgets(ledger, [budget], async () => {
        streamText({ model: wrapped, prompt: 'Tell me a story.', maxOutputTokens: 2_000 });
      });
      await settled(budget);
      expect(billed()).toBeGreaterThan(REPLY);
      expect(await usage(budget)).toMatchObject({ used: billed(), reserved: 0 });
      expect(charges().map((e) => e.details?.source)).toEqual(['provider']);
    });
  }

  it('hard-stop: streams left one after another never let the provider bill past the limit', async () => {
    const wrapped = model('chat');
    const limit = 1_000;
    const budget = defineBudget({ scope: 'session', key: 'left', limit });
    for (let i = 0; i < 6; i++) {
      await runWithBudgets(ledger, [budget], async () => {
        const result = streamText({
          model: wrapped,
          prompt: 'Tell me a story.',
          maxRetries: 0,
          onError: () => {}, // the calls after the limit are refused
        });
        let parts = 0;
        for await (const _part of result.fullStream) if (++parts === 5) break;
      });
      await settled(budget, Math.min(i + 1, 4));
    }
    // Four were sent (the fourth clamped to what was left), two refused before sending.
    expect(server.requests).toHaveLength(4);
    expect(billed()).toBe(limit);
    expect(await usage(budget)).toMatchObject({ used: limit, reserved: 0 });
  });

  describe('a stream the SDK cancels', () => {
    it('stops the provider and is charged at once: the counted input and the output that came', async () => {
      const wrapped = model('chat');
      const budget = defineBudget({ scope: 'task', key: 'cancel', limit: 100_000 });
      let text = '';
      await runWithBudgets(ledger, [budget], async () => {
        const { stream } = await wrapped.doStream({
          prompt: [{ role: 'user', content: [{ type: 'text', text: 'Tell me a story.' }] }],
          maxOutputTokens: 2_000,
        });
        const reader = stream.getReader();
        for (;;) {
          const { value } = await reader.read();
          const part = value as LanguageModelV4StreamPart;
          if (part.type === 'text-delta') text += part.delta;
          if (text.length >= 5 * ' hello'.length) break;
        }
        await reader.cancel();
        // Settled by the time cancel() resolved.
        expect((await usage(budget)).reserved).toBe(0);
      });
      await server.settled();
      // The provider's request was stopped before the end of its answer.
      expect(server.tally.completionTokens).toBeLessThan(REPLY);
      const [charge] = charges();
      expect(charges()).toHaveLength(1);
      expect(charge!.details).toMatchObject({
        inputTokens: server.tally.promptTokens,
        source: 'estimate',
      });
      expect(charge!.details!.outputTokens).toBeGreaterThanOrEqual(5);
      expect(charge!.details!.outputTokens).toBeLessThanOrEqual(server.tally.completionTokens);
      expect((await usage(budget)).used).toBe(
        server.tally.promptTokens + charge!.details!.outputTokens,
      );
    });
  });
});
