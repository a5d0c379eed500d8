import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import type { AnthropicCounting } from '../../../lib/providers/anthropic/wrap-anthropic.js';
import { billedTokens, budget, MODEL, useHarness } from './anthropic-wrapper.fixture.js';

// Prompts of varied kinds, so the estimate's margin is exercised on more than one shape of text.
const PROMPTS = [
  'Summarise the quarterly report in three bullet points, then list the risks you see.',
  'export function add(a: number, b: number): number { return a + b; } // explain this',
  JSON.stringify({
    order: 1042,
    items: [
      { sku: 'A-1', qty: 2 },
      { sku: 'B-7', qty: 1 },
    ],
  }),
  'Москва — столица России. Переведите это предложение на английский язык, пожалуйста.',
  '東京は日本の首都です。この文を英語に翻訳してください。',
];

describe.each<AnthropicCounting>(['estimate', 'api'])(
  '60 parallel calls in one session (counting: %s)',
  (counting) => {
    const h = useHarness({ replyTokens: 400, tokensPerChunk: 20 }, { serverPerTest: true });

    it('never make the provider bill more than the budget, and the ledger matches its bill', async () => {
      const limit = 8_000;
      const session = budget(limit);
      const client = h.client({ counting });
      const outcomes = await h.within(session, () =>
        Promise.all(
          Array.from({ length: 60 }, async (_, i) => {
            const body = {
              model: MODEL,
              max_tokens: 150 + (i % 4) * 100,
              messages: [{ role: 'user' as const, content: PROMPTS[i % PROMPTS.length] }],
            };
            try {
              if (i % 3 === 0) {
                const stream = await client.messages.create({ ...body, stream: true });
                for await (const _ of stream);
              } else {
                await client.messages.create(body);
              }
              return 'ok';
            } catch (error) {
              if (error instanceof BudgetExceededError) return 'refused';
              throw error;
            }
          }),
        ),
      );
      await h.server.settled();
      const ok = outcomes.filter((o) => o === 'ok').length;
      expect(ok).toBeGreaterThan(5);
      expect(outcomes.filter((o) => o === 'refused').length).toBeGreaterThan(0);
      expect(billedTokens(h.server)).toBeLessThanOrEqual(limit);
      const { used, reserved } = await h.used(session);
      expect(reserved).toBe(0);
      // Every call that ran reported its usage, so the ledger holds exactly what was billed.
      expect(used).toBe(billedTokens(h.server));
    });
  },
);
