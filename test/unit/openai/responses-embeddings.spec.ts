import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { countResponsesInput, countTokens } from '../../../lib/counting/index.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import { budget, drain, MODEL, usageEvents, useHarness } from './openai.fixture.js';

const INPUT = 'Write a haiku about budgets.';
const INSTRUCTIONS = 'Be brief.';
const inputTokens = () =>
  countResponsesInput({ model: MODEL, input: INPUT, instructions: INSTRUCTIONS });

describe('wrapOpenAI: responses', () => {
  const h = useHarness({ replyTokens: 30 });

  it('meters responses.create', async () => {
    const b = budget(10_000);
    const client = h.client();
    const response = await h.within(b, () =>
      client.responses.create({ model: MODEL, input: INPUT, instructions: INSTRUCTIONS }),
    );
    expect(response.output_text).toBe(' hello'.repeat(30));
    expect(response.usage?.input_tokens).toBe(inputTokens());
    expect(await h.tokens(b)).toEqual({ used: inputTokens() + 30, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(inputTokens() + 30);
  });

  it('caps max_output_tokens under hard-stop and keeps withResponse()', async () => {
    // 20, not less: the Responses API (and the fake) refuses max_output_tokens below 16.
    const b = budget(inputTokens() + 20);
    const client = h.client();
    const { data, request_id } = await h.within(b, () =>
      client.responses
        .create({ model: MODEL, input: INPUT, instructions: INSTRUCTIONS })
        .withResponse(),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_output_tokens: 20 });
    expect(data.status).toBe('incomplete');
    expect(data.output_text).toBe(' hello'.repeat(20));
    expect(request_id).toMatch(/^req_fake_/);
    expect(await h.tokens(b)).toEqual({ used: inputTokens() + 20, reserved: 0 });
  });

  it('refuses before sending when the input does not fit', async () => {
    const client = h.client();
    await expect(
      h.within(budget(inputTokens()), () =>
        client.responses.create({ model: MODEL, input: INPUT, instructions: INSTRUCTIONS }),
      ),
    ).rejects.toThrow(BudgetExceededError);
    expect(h.server.requests).toHaveLength(0);
  });

  it('meters a streamed response and ends a budget-cut stream with BudgetExceededError', async () => {
    const b = budget(10_000);
    const client = h.client();
    const events = await h.within(b, async () =>
      drain(await client.responses.create({ model: MODEL, input: INPUT, stream: true })),
    );
    expect(events.at(-1)?.type).toBe('response.completed');
    const prompt = countResponsesInput({ model: MODEL, input: INPUT });
    expect(await h.tokens(b)).toEqual({ used: prompt + 30, reserved: 0 });

    const small = budget(prompt + 50);
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    const error = await h
      .within(small, async () => {
        const stream = await client.responses.create(
          { model: MODEL, input: INPUT, stream: true },
          { headers: { [REPLY_TOKENS_HEADER]: '2000' } },
        );
        for await (const event of stream) seen.push(event);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(seen.at(-1)?.type).toBe('response.incomplete');
    expect(await h.tokens(small)).toEqual({ used: prompt + 50, reserved: 0 });
  });

  it('responses.stream() and responses.parse() charge once', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const final = await client.responses.stream({ model: MODEL, input: INPUT }).finalResponse();
      expect(final.output_text).toBe(' hello'.repeat(30));
      const parsed = await client.responses.parse({ model: MODEL, input: INPUT });
      expect(parsed.output_text).toBe(' hello'.repeat(30));
    });
    expect(usageEvents(h.events, b)).toHaveLength(2);
    expect(h.server.tally.requests).toBe(2);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('records reasoning tokens of a reasoning model', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, () => client.responses.create({ model: 'o4-mini', input: INPUT }));
    expect(usageEvents(h.events, b)[0].details).toMatchObject({
      model: 'o4-mini',
      reasoningTokens: 64,
      outputTokens: 94,
    });
  });
});

describe('wrapOpenAI: embeddings', () => {
  const h = useHarness();
  const EMBED = 'text-embedding-3-small';

  it('meters embeddings.create with no output reservation', async () => {
    const b = budget(10_000);
    const client = h.client();
    const input = ['first text', 'second, longer text'];
    const result = await h.within(b, () => client.embeddings.create({ model: EMBED, input }));
    const prompt = countTokens(input[0], EMBED) + countTokens(input[1], EMBED);
    expect(result.data).toHaveLength(2);
    expect(result.data[0].embedding).toHaveLength(8);
    expect(result.usage.prompt_tokens).toBe(prompt);
    expect(await h.tokens(b)).toEqual({ used: prompt, reserved: 0 });
  });

  it('counts token-id inputs and refuses what does not fit', async () => {
    const client = h.client();
    await expect(
      h.within(budget(3), () => client.embeddings.create({ model: EMBED, input: [1, 2, 3, 4] })),
    ).rejects.toThrow(BudgetExceededError);
    expect(h.server.requests).toHaveLength(0);
    const b = budget(4);
    await h.within(b, () => client.embeddings.create({ model: EMBED, input: [1, 2, 3, 4] }));
    expect(await h.tokens(b)).toEqual({ used: 4, reserved: 0 });
  });
});
