import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { MIN_THINKING_BUDGET } from '../../../lib/providers/anthropic/messages-output.cap.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { THINKING_TOKENS_HEADER } from '../../../lib/testing/index.js';
import {
  billedTokens,
  budget,
  drain,
  fakeInput,
  MESSAGES,
  MODEL,
  usageEvents,
  useHarness,
} from './anthropic-wrapper.fixture.js';

const estimate = estimateMessagesInput({ model: MODEL, messages: MESSAGES }, MODEL).inputTokens;
// Thinking adds its own framing to the estimate.
const withThinking = estimateMessagesInput(
  { model: MODEL, messages: MESSAGES, thinking: { type: 'enabled', budget_tokens: 1024 } },
  MODEL,
).inputTokens;
const thinking = (budgetTokens: number) => ({
  type: 'enabled' as const,
  budget_tokens: budgetTokens,
});

describe('wrapAnthropic: extended thinking', () => {
  const h = useHarness({ replyTokens: 30, thinkingTokens: 2_000, tokensPerChunk: 50 });

  it('lowers budget_tokens below a clamped max_tokens, so the API accepts the request', async () => {
    const b = budget(3_000);
    const client = h.client();
    const message = await h.within(b, () =>
      client.messages.create({
        model: MODEL,
        max_tokens: 8_000,
        thinking: thinking(4_000),
        messages: MESSAGES,
      }),
    );
    const granted = 3_000 - withThinking;
    expect(h.server.requests[0].body).toMatchObject({
      max_tokens: granted,
      thinking: { type: 'enabled', budget_tokens: granted - 1 },
    });
    expect(message.content[0].type).toBe('thinking');
    expect(billedTokens(h.server)).toBeLessThanOrEqual(3_000);
  });

  it('keeps a budget_tokens that already fits below the clamped max_tokens', async () => {
    const b = budget(5_000);
    const client = h.client();
    await h.within(b, () =>
      client.messages.create({
        model: MODEL,
        max_tokens: 8_000,
        thinking: thinking(1_500),
        messages: MESSAGES,
      }),
    );
    expect(h.server.requests[0].body).toMatchObject({
      max_tokens: 5_000 - withThinking,
      thinking: { budget_tokens: 1_500 },
    });
  });

  it('refuses, before any request, a thinking call the budget cannot give 1,025 output tokens', async () => {
    const b = budget(withThinking + MIN_THINKING_BUDGET);
    const client = h.client();
    const error = await h
      .within(b, () =>
        client.messages.create({
          model: MODEL,
          max_tokens: 8_000,
          thinking: thinking(1_024),
          messages: MESSAGES,
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as BudgetExceededError).requested).toBe(withThinking + MIN_THINKING_BUDGET + 1);
    expect(h.server.requests).toEqual([]);
    // Without thinking the same budget lets the call through, clamped.
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 8_000, messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).toMatchObject({
      max_tokens: withThinking + MIN_THINKING_BUDGET - estimate,
    });
  });

  it('adaptive thinking needs no minimum; thinking tokens are reported as reasoning', async () => {
    const b = budget(10_000);
    const client = h.client();
    const events = await h.within(b, async () =>
      drain(
        await client.messages.create(
          {
            model: MODEL,
            max_tokens: 500,
            thinking: { type: 'adaptive' },
            messages: MESSAGES,
            stream: true,
          },
          { headers: { [THINKING_TOKENS_HEADER]: '100' } },
        ),
      ),
    );
    expect(
      events.some((e) => e.type === 'content_block_delta' && e.delta.type === 'thinking_delta'),
    ).toBe(true);
    expect(await h.used(b)).toEqual({ used: fakeInput() + 130, reserved: 0 });
    expect(usageEvents(h.events, b)[0].details).toMatchObject({
      outputTokens: 130,
      reasoningTokens: 100,
    });
  });

  it('property: over generated budgets and requests, never a request the API rejects, never over budget', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 64_000 }),
        fc.option(fc.integer({ min: MIN_THINKING_BUDGET, max: 63_999 }), { nil: undefined }),
        fc.boolean(),
        async (limit, maxTokens, budgetTokens, stream) => {
          h.server.reset();
          const b = budget(limit);
          const client = h.client();
          const body = {
            model: MODEL,
            // A request valid as the caller wrote it: budget_tokens below max_tokens.
            max_tokens:
              budgetTokens === undefined ? maxTokens : Math.max(maxTokens, budgetTokens + 1),
            messages: MESSAGES,
            ...(budgetTokens === undefined ? {} : { thinking: thinking(budgetTokens) }),
          };
          const result = await h
            .within(b, async () =>
              stream
                ? drain(await client.messages.create({ ...body, stream: true }))
                : client.messages.create(body),
            )
            .then(
              () => 'ok',
              (e: unknown) => e,
            );
          await h.server.settled();
          if (result !== 'ok') {
            // Refused before anything was sent, or stopped at the budget's own cap.
            expect(result).toBeInstanceOf(BudgetExceededError);
            if (h.server.requests.length === 0) return;
          }
          expect(h.server.requests).toHaveLength(1);
          const sent = h.server.requests[0].body as {
            max_tokens: number;
            thinking?: { budget_tokens: number };
          };
          if (sent.thinking) {
            expect(sent.thinking.budget_tokens).toBeGreaterThanOrEqual(MIN_THINKING_BUDGET);
            expect(sent.thinking.budget_tokens).toBeLessThan(sent.max_tokens);
          }
          expect(h.server.tally.requests).toBe(1); // a 400 would bill nothing
          expect(billedTokens(h.server)).toBeLessThanOrEqual(limit);
          expect((await h.used(b)).used).toBe(billedTokens(h.server));
        },
      ),
      { numRuns: 60 },
    );
  });
});
