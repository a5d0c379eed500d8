import { OpenAI } from '@llamaindex/openai';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';
import { useFakeOpenAIAndLedger } from '../../fixtures/openai.fixture.js';

const LIMIT = 300;

describe('tokencap/llamaindex: every output cap sent is within the grant', () => {
  const t = useFakeOpenAIAndLedger({ replyTokens: 1_000 });

  const messages = [{ role: 'user' as const, content: 'Write a long story.' }];
  async function callOnce(model: string, options: Record<string, unknown>, stream: boolean) {
    const llm = meterLLM(
      new OpenAI({
        model,
        apiKey: 'test',
        maxRetries: 0,
        baseURL: t.server.baseURL,
        additionalChatOptions: options,
      }),
    );
    const budget = defineBudget({ scope: 'task', key: `${model}-${stream}`, limit: LIMIT });
    const error = await runWithBudgets(t.ledger, [budget], async () => {
      if (!stream) return llm.chat({ messages });
      for await (const _chunk of await llm.chat({ messages, stream: true })) {
        // read to the end
      }
    }).catch((e: unknown) => e);
    // A stream cut short by the budget's cap ends its loop with the refusal; a plain call returns.
    if (stream) expect(error).toBeInstanceOf(BudgetExceededError);
    else expect(error).not.toBeInstanceOf(Error);
    expect(t.server.requests).toHaveLength(1);
    const used = (await t.ledger.usage([budget]))[0]!.dimensions.tokens!.used;
    expect(used).toBeLessThanOrEqual(LIMIT);
    expect(t.server.tally.totalTokens).toBeLessThanOrEqual(LIMIT);
    return t.server.requests[0]!.body as Record<string, unknown>;
  }

  for (const stream of [false, true]) {
    const mode = stream ? 'stream' : 'plain';
    // The fake refuses max_tokens with max_completion_tokens (400), as OpenAI does.
    it(`the LLM's additionalChatOptions.max_completion_tokens: 5000 is lowered to the grant, and sent alone (${mode})`, async () => {
      const body = await callOnce('gpt-4o-mini', { max_completion_tokens: 5_000 }, stream);
      expect(body.max_completion_tokens).toBeLessThan(LIMIT);
      expect(body).not.toHaveProperty('max_tokens');
    });

    it(`a call's max_completion_tokens beside the LLM's maxTokens is sent alone, lowered (${mode})`, async () => {
      const llm = meterLLM(
        new OpenAI({
          model: 'gpt-4o-mini',
          apiKey: 'test',
          maxRetries: 0,
          baseURL: t.server.baseURL,
          maxTokens: 4_000,
        }),
      );
      const budget = defineBudget({ scope: 'task', key: `call-${mode}`, limit: LIMIT });
      const params = {
        messages,
        additionalChatOptions: { max_completion_tokens: 5_000 },
      };
      await runWithBudgets(t.ledger, [budget], async () => {
        if (!stream) return llm.chat(params);
        for await (const _chunk of await llm.chat({ ...params, stream: true })) {
          // read to the end
        }
      }).catch((e: unknown) => {
        // Only the cut at the budget may end the stream.
        if (!(e instanceof BudgetExceededError)) throw e;
      });
      const body = t.server.requests[0]!.body as Record<string, unknown>;
      expect(body.max_completion_tokens).toBeLessThan(LIMIT);
      expect(body).not.toHaveProperty('max_tokens');
      expect(t.server.tally.totalTokens).toBeLessThanOrEqual(LIMIT);
    });

    it(`the LLM's additionalChatOptions.max_tokens: 5000 is lowered to the grant (${mode})`, async () => {
      const body = await callOnce('gpt-4o-mini', { max_tokens: 5_000 }, stream);
      expect(body.max_tokens).toBeLessThan(LIMIT);
      expect(body).not.toHaveProperty('max_completion_tokens');
    });

    for (const model of ['o4-mini', 'gpt-5-mini']) {
      it(`${model} (a reasoning model) is sent max_completion_tokens, never max_tokens (${mode})`, async () => {
        const body = await callOnce(model, {}, stream);
        expect(body.max_completion_tokens).toBeLessThan(LIMIT);
        expect(body).not.toHaveProperty('max_tokens');
      });
    }
  }
});
