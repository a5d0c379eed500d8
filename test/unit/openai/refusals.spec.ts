import { describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  countResponsesInput,
  PriceUnknownError,
  type RefusedEvent,
} from '../../../lib/engine/index.js';
import { budget, MESSAGES, MODEL, promptOf, useHarness } from './openai.fixture.js';

// Issue 11 item 4: the Responses API rejects max_output_tokens below 16 with HTTP 400, so a
// hard-stop budget with fewer output tokens left refuses the call before sending it (a `refused`
// event, BudgetExceededError, 429 in Nest), instead of sending a request that can never succeed.
// Issue 11 item 10: client-chosen strings in error messages are quoted and cut.

const INPUT = 'Say hello.';
const inputOf = () => countResponsesInput({ model: MODEL, input: INPUT });

describe('an endpoint minimum output under hard-stop', () => {
  const h = useHarness({ replyTokens: 40 });
  const refusals = () => h.events.filter((e): e is RefusedEvent => e.type === 'refused');

  it.each([1, 8, 15])('Responses: %i output tokens left refuses before sending', async (left) => {
    const b = budget(inputOf() + left);
    const error = await h
      .within(b, () => h.client().responses.create({ model: MODEL, input: INPUT }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ dimension: 'tokens', used: 0, requested: inputOf() + 16 });
    expect(h.server.requests).toHaveLength(0);
    expect(refusals()).toEqual([
      expect.objectContaining({ scope: b.scope, key: b.key, requested: inputOf() + 16 }),
    ]);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
  });

  it.each([
    [
      'a stream',
      (c: ReturnType<typeof h.client>) =>
        c.responses.create({ model: MODEL, input: INPUT, stream: true }),
    ],
    [
      'withResponse()',
      (c: ReturnType<typeof h.client>) =>
        c.responses.create({ model: MODEL, input: INPUT }).withResponse(),
    ],
    [
      'asResponse()',
      (c: ReturnType<typeof h.client>) =>
        c.responses.create({ model: MODEL, input: INPUT }).asResponse(),
    ],
    [
      'responses.stream()',
      (c: ReturnType<typeof h.client>) =>
        c.responses.stream({ model: MODEL, input: INPUT }).finalResponse(),
    ],
  ] as const)('Responses through %s: 8 left refuses before sending', async (_, call) => {
    const b = budget(inputOf() + 8);
    const error = await h.within(b, () => call(h.client())).catch((e: unknown) => e);
    // The SDK's stream helpers wrap what their request throws in an OpenAIError, as its `cause`.
    const cause = (error as { cause?: unknown }).cause;
    expect(error instanceof BudgetExceededError ? error : cause).toBeInstanceOf(
      BudgetExceededError,
    );
    expect(h.server.requests).toHaveLength(0);
    expect(refusals()).toHaveLength(1);
  });

  it('Responses: exactly 16 left is sent, capped at 16', async () => {
    const b = budget(inputOf() + 16);
    await h.within(b, () => h.client().responses.create({ model: MODEL, input: INPUT }));
    expect(h.server.requests[0].body).toMatchObject({ max_output_tokens: 16 });
    expect(await h.tokens(b)).toEqual({ used: inputOf() + 16, reserved: 0 });
  });

  it('Responses: a caller cap below 16 is the caller’s to send, within a budget that holds 16', async () => {
    const b = budget(10_000);
    await h
      .within(b, () =>
        h.client().responses.create({ model: MODEL, input: INPUT, max_output_tokens: 8 }),
      )
      .catch(() => {});
    expect(h.server.requests[0].body).toMatchObject({ max_output_tokens: 8 });
  });

  it('Responses under a usd budget: fewer than 16 output tokens of dollars left refuses', async () => {
    // gpt-4o: $2.50 in, $10 out per 1M tokens: the input costs ceil(2.5 × input) micro-dollars,
    // each output token 10. Leave dollars for 15 output tokens.
    const inputMicros = Math.ceil(inputOf() * 2.5);
    const b = budget({ usd: (inputMicros + 150) / 1e6 });
    const error = await h
      .within(b, () => h.client().responses.create({ model: MODEL, input: INPUT }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({ dimension: 'usd', requested: (inputMicros + 160) / 1e6 });
    expect(h.server.requests).toHaveLength(0);
  });

  it('Chat Completions accepts any cap of 1 or more: 5 left is sent with 5', async () => {
    const b = budget(promptOf() + 5);
    await h.within(b, () =>
      h.client().chat.completions.create({ model: MODEL, messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 5 });
  });
});

describe('client-chosen strings in error messages', () => {
  const h = useHarness();

  it('quotes and cuts the model name of a PriceUnknownError: a newline cannot forge a log line', async () => {
    const model = `my-model\n2026-12-01T00:00:00Z INFO forged ${'x'.repeat(200)}`;
    const error = await h
      .within(budget({ usd: 1 }), () =>
        h.client().chat.completions.create({ model, messages: MESSAGES }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PriceUnknownError);
    expect((error as PriceUnknownError).model).toBe(model);
    const message = (error as Error).message;
    expect(message).not.toMatch(/[\r\n]/);
    expect(message).toContain(`model ${JSON.stringify(`${model.slice(0, 64)}…`)}, so`);
    expect(message.length).toBeLessThan(300);
    expect(h.server.requests).toHaveLength(0);
  });
});
