import { describe, expect, it } from 'vitest';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { bindModelCatalog, ModelCatalog, PriceUnknownError } from '../../../lib/models/index.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { budget, promptOf, useHarness } from './openai.fixture.js';

const SAY_HELLO = [{ role: 'user' as const, content: 'Say hello.' }];

describe('usd and requests budgets on wrapped calls', () => {
  const h = useHarness();

  it('charges the price of a known request, computed by hand', async () => {
    // One user message "Say hello.": 3 per message + 1 ("user") + 3 ("Say", " hello", ".") + 3 reply
    // priming = 10 prompt tokens (the cookbook's rule).
    expect(promptOf(SAY_HELLO, 'gpt-4o-mini')).toBe(10);
    const b = budget({ usd: 1 });
    await h.within(b, () =>
      h
        .client()
        .chat.completions.create(
          { model: 'gpt-4o-mini', messages: SAY_HELLO, max_tokens: 50 },
          { headers: { 'x-fake-reply-tokens': '40' } },
        ),
    );
    // gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens = 0.15 and 0.6 micro-dollars a token.
    // 10 × 0.15 + 40 × 0.6 = 1.5 + 24 = 25.5 → 26 micro-dollars (rounded up once per call).
    const [usage] = await h.ledger.usage([b]);
    expect(usage.dimensions.usd).toEqual({
      limit: 1,
      used: 0.000026,
      reserved: 0,
      remaining: 0.999974,
      credit: 0,
      burnRate: null,
      projectedExhaustion: null,
    });
  });

  it('applies the cached-input discount at commit', async () => {
    const b = budget({ usd: 1, tokens: 100_000 });
    const messages = [{ role: 'user' as const, content: 'word '.repeat(2000) }];
    const prompt = promptOf(messages, 'gpt-4o');
    expect(prompt).toBe(2008);
    await h.within(b, () =>
      h
        .client()
        .chat.completions.create(
          { model: 'gpt-4o', messages, max_tokens: 10 },
          { headers: { 'x-fake-cached-tokens': '1024', 'x-fake-reply-tokens': '10' } },
        ),
    );
    // gpt-4o: $2.50 in, $1.25 cached, $10 out. (2008 − 1024) × 2.5 + 1024 × 1.25 + 10 × 10
    // = 2460 + 1280 + 100 = 3840 micro-dollars.
    const [usage] = await h.ledger.usage([b]);
    expect(usage.dimensions.usd?.used).toBe(0.00384);
    expect(usage.dimensions.tokens?.used).toBe(2018);
  });

  it('refuses before the call when the prompt alone costs more than the dollars left', async () => {
    // 10 prompt tokens of gpt-4o cost 25 micro-dollars, and the first output token 10 more; 20 are left.
    const b = budget({ usd: 0.00002 });
    const error = await h
      .within(b, () => h.client().chat.completions.create({ model: 'gpt-4o', messages: SAY_HELLO }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ dimension: 'usd', limit: 0.00002, used: 0, requested: 0.000035 });
    expect(h.server.requests).toHaveLength(0);
  });

  it('clamps the output cap to what the dollars left can buy, and bills no more than the limit', async () => {
    const b = budget({ usd: 0.001 }); // 1,000 micro-dollars
    const completion = await h.within(b, () =>
      h
        .client()
        .chat.completions.create(
          { model: 'gpt-4o', messages: SAY_HELLO },
          { headers: { 'x-fake-reply-tokens': '5000' } },
        ),
    );
    // 25 micro-dollars of prompt leave 975, which buy 97 output tokens at 10 each.
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 97 });
    expect(completion.usage?.completion_tokens).toBe(97);
    const [usage] = await h.ledger.usage([b]);
    expect(usage.dimensions.usd?.used).toBe(0.000995); // 25 + 970
  });

  it('ends a stream cut short by a usd budget with an error in dollars', async () => {
    const b = budget({ usd: 0.001 });
    const error = await h
      .within(b, async () => {
        const stream = await h
          .client()
          .chat.completions.create(
            { model: 'gpt-4o', messages: SAY_HELLO, stream: true },
            { headers: { 'x-fake-reply-tokens': '5000' } },
          );
        for await (const _ of stream);
      })
      .catch((e: unknown) => e);
    // Granted 97 output tokens (see above); the answer needed at least one more: 10 × 2.5 + 98 × 10.
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({
      dimension: 'usd',
      limit: 0.001,
      used: 0.000995,
      reserved: 0,
      requested: 0.001005,
    });
    expect((error as Error).message).toContain(
      'the call needs 0.001005 USD but only 0.000005 of 0.001 USD remain',
    );
  });

  it('refuses a model with no price under a usd budget, before any request', async () => {
    const b = budget({ usd: 1 });
    await expect(
      h.within(b, () =>
        h.client().chat.completions.create({ model: 'llama-3-70b', messages: SAY_HELLO }),
      ),
    ).rejects.toThrow(PriceUnknownError);
    expect(h.server.requests).toHaveLength(0);
    // A token-only budget does not need prices.
    await h.within(budget(10_000), () =>
      h
        .client()
        .chat.completions.create({ model: 'llama-3-70b', messages: SAY_HELLO, max_tokens: 5 }),
    );
    expect(h.server.requests).toHaveLength(1);
  });

  it("charges o3-deep-research its own price, not o3's", async () => {
    const b = budget({ usd: 1 });
    await h.within(b, () =>
      h
        .client()
        .chat.completions.create(
          { model: 'o3-deep-research', messages: SAY_HELLO, max_completion_tokens: 50 },
          { headers: { 'x-fake-reply-tokens': '40', 'x-fake-reasoning-tokens': '0' } },
        ),
    );
    // $10 in, $40 out per 1M: 10 × 10 + 40 × 40 = 1,700 micro-dollars (o3's rates gave 340).
    expect(promptOf(SAY_HELLO, 'o3-deep-research')).toBe(10);
    expect(h.server.tally.completionTokens).toBe(40);
    expect((await h.ledger.usage([b]))[0].dimensions.usd?.used).toBe(0.0017);
  });

  it.each([
    'gpt-4o-audio-preview',
    'gpt-4o-audio-preview-2024-12-17',
    'gpt-4o-mini-search-preview',
  ])(
    "refuses %s (no price of its own, never gpt-4o's) under a usd budget, before any request",
    async (model) => {
      const b = budget({ usd: 1 });
      await expect(
        h.within(b, () => h.client().chat.completions.create({ model, messages: SAY_HELLO })),
      ).rejects.toThrow(PriceUnknownError);
      expect(h.server.requests).toHaveLength(0);
    },
  );

  it('uses the configured default price for unknown models', async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    bindModelCatalog(ledger, new ModelCatalog({ defaultPrice: { input: 1, output: 2 } }));
    const b = budget({ usd: 1 });
    await runWithBudgets(ledger, [b], () =>
      wrapOpenAI(h.raw()).chat.completions.create(
        { model: 'llama-3-70b', messages: SAY_HELLO, max_tokens: 5 },
        { headers: { 'x-fake-reply-tokens': '5' } },
      ),
    );
    const prompt = promptOf(SAY_HELLO, 'llama-3-70b'); // the estimator's count for an unknown model
    const [usage] = await ledger.usage([b]);
    expect(usage.dimensions.usd?.used).toBe((prompt * 1 + 5 * 2) / 1e6);
    await ledger.close();
  });

  it('lets exactly `requests` calls through out of 100 in parallel', async () => {
    const b = budget({ requests: 37, tokens: 1_000_000 });
    const client = h.client();
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, () =>
        h.within(b, () =>
          client.chat.completions.create({
            model: 'gpt-4o-mini',
            messages: SAY_HELLO,
            max_tokens: 5,
          }),
        ),
      ),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(37);
    expect(refused).toHaveLength(63);
    for (const r of refused) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({
        name: 'BudgetExceededError',
        dimension: 'requests',
      });
    }
    expect(h.server.tally.requests).toBe(37);
    const [usage] = await h.ledger.usage([b]);
    expect(usage.dimensions.requests).toEqual({
      limit: 37,
      used: 37,
      reserved: 0,
      remaining: 0,
      credit: 0,
      burnRate: null,
      projectedExhaustion: null,
    });
  });

  it('fires thresholds per dimension, saying which', async () => {
    const b = budget({ tokens: 1_000_000, requests: 10 }, { thresholds: [0.5] });
    const client = h.client();
    for (let i = 0; i < 5; i++) {
      await h.within(b, () =>
        client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: SAY_HELLO,
          max_tokens: 5,
        }),
      );
    }
    expect(h.events.filter((e) => e.type === 'threshold')).toEqual([
      expect.objectContaining({
        type: 'threshold',
        dimension: 'requests',
        threshold: 0.5,
        used: 5,
        limit: 10,
      }),
    ]);
  });
});
