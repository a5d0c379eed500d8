import OpenAI, { APIPromise } from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { BudgetExceededError, TokencapConfigError } from '../../../lib/errors.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import {
  budget,
  drain,
  MESSAGES,
  MODEL,
  promptOf,
  usageEvents,
  useHarness,
} from './openai.fixture.js';

describe('wrapOpenAI: chat completions', () => {
  const h = useHarness({ replyTokens: 30 });

  it('returns the same client object', () => {
    const raw = h.raw();
    expect(wrapOpenAI(raw)).toBe(raw);
  });

  it('passes calls outside any budget context straight through, unmetered', async () => {
    const client = h.client();
    const promise = client.chat.completions.create({ model: MODEL, messages: MESSAGES });
    expect(promise).toBeInstanceOf(APIPromise);
    const completion = await promise;
    expect(completion.usage?.completion_tokens).toBe(30);
    expect(h.events).toEqual([]);
  });

  it('charges the default budgets of the options outside a context', async () => {
    const b = budget(10_000);
    const client = h.client({ ledger: h.ledger, budgets: [b] });
    await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(promptOf() + 30);
  });

  it('commits exactly what the provider reports', async () => {
    const b = budget(10_000);
    const client = h.client();
    const completion = await h.within(b, () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
    );
    expect(completion.choices[0].message.content).toBe(' hello'.repeat(30));
    expect(completion.usage?.prompt_tokens).toBe(promptOf());
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 });
    const [usage] = await h.ledger.usage([b]);
    expect(usage.dimensions.requests).toBeUndefined();
    expect(usageEvents(h.events, b)).toHaveLength(1);
    expect(usageEvents(h.events, b)[0].details).toEqual({
      model: MODEL,
      inputTokens: promptOf(),
      outputTokens: 30,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      source: 'provider',
    });
  });

  it('counts requests on a budget that limits them', async () => {
    const b = budget({ requests: 2 });
    const client = h.client();
    await h.within(b, async () => {
      await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      await expect(
        client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
      ).rejects.toThrow(BudgetExceededError);
    });
    expect(h.server.requests).toHaveLength(2);
  });

  it('refuses a call the budget cannot hold before any request is sent', async () => {
    const b = budget(promptOf()); // the prompt fits, but not one output token
    const client = h.client();
    const error = await h
      .within(b, () => client.chat.completions.create({ model: MODEL, messages: MESSAGES }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({
      scope: 'test',
      key: b.key,
      limit: promptOf(),
      requested: promptOf() + 1,
    });
    expect(h.server.requests).toHaveLength(0);
    expect(h.events.map((e) => e.type)).toEqual(['refused']);
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('caps output at what a hard-stop budget has left, without touching the caller object', async () => {
    const b = budget(promptOf() + 12);
    const client = h.client();
    const body = { model: MODEL, messages: MESSAGES };
    const completion = await h.within(b, () => client.chat.completions.create(body));
    expect(body).toEqual({ model: MODEL, messages: MESSAGES });
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 12 });
    expect(completion.choices[0].finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(12);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 12, reserved: 0 });
  });

  it("keeps the caller's max_tokens parameter and a cap that already fits", async () => {
    const client = h.client();
    await h.within(budget(promptOf() + 5), () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 100 }),
    );
    await h.within(budget(10_000), () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 7 }),
    );
    expect(h.server.requests.map((r) => r.body)).toMatchObject([
      { max_tokens: 5 },
      { max_tokens: 7 },
    ]);
    expect(h.server.requests[0].body).not.toHaveProperty('max_completion_tokens');
  });

  it('uses the chatOutputCapParameter option for requests that set no cap', async () => {
    const client = h.client({ chatOutputCapParameter: 'max_tokens' });
    await h.within(budget(promptOf() + 9), () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_tokens: 9 });
  });

  // The fake refuses max_tokens on reasoning models (400), as OpenAI does.
  it.each(['o3', 'gpt-5'])(
    'sends %s (a reasoning model) max_completion_tokens even with chatOutputCapParameter max_tokens',
    async (model) => {
      const client = h.client({ chatOutputCapParameter: 'max_tokens' });
      const b = budget(promptOf(MESSAGES, model) + 9);
      const answer = await h.within(b, () =>
        client.chat.completions.create({ model, messages: MESSAGES }),
      );
      expect(answer.usage?.completion_tokens).toBe(9);
      expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 9 });
      expect(h.server.requests[0].body).not.toHaveProperty('max_tokens');
    },
  );

  it('does not cap requests under degrade or notify budgets', async () => {
    const client = h.client();
    await h.within([budget(10, { policy: 'notify' }), budget(10_000, { policy: 'degrade' })], () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).not.toHaveProperty('max_completion_tokens');
    expect(h.server.tally.completionTokens).toBe(30);
  });

  it('reserves per choice when n > 1', async () => {
    const b = budget(promptOf() + 20);
    const client = h.client();
    const completion = await h.within(b, () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES, n: 2 }),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_completion_tokens: 10 });
    expect(completion.usage?.completion_tokens).toBe(20);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 20, reserved: 0 });
  });

  it('100 parallel calls never take the provider past the limit, and the ledger matches its bill', async () => {
    const limit = 2_000;
    const b = budget(limit);
    const client = h.client();
    const results = await h.within(b, () =>
      Promise.allSettled(
        Array.from({ length: 100 }, () =>
          client.chat.completions.create({
            model: MODEL,
            messages: MESSAGES,
            max_completion_tokens: 20,
          }),
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    // 20-token calls fit `full` times; the leftover still holds one call with a smaller cap.
    const full = Math.floor(limit / (promptOf() + 20));
    const leftover = limit - full * (promptOf() + 20);
    expect(ok).toHaveLength(full + (leftover > promptOf() ? 1 : 0));
    expect(h.server.tally.totalTokens).toBe(
      full * (promptOf() + 20) + (leftover > promptOf() ? leftover : 0),
    );
    expect(
      refused.every((r) => (r as PromiseRejectedResult).reason instanceof BudgetExceededError),
    ).toBe(true);
    expect(h.server.tally.totalTokens).toBeLessThanOrEqual(limit);
    expect(h.server.tally.requests).toBe(ok.length);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('100 parallel uncapped calls: maxReservation lets many run, and the limit still holds', async () => {
    const limit = 3_000;
    const b = budget(limit, { maxReservation: 25 });
    const client = h.client();
    const results = await h.within(b, () =>
      Promise.allSettled(
        Array.from({ length: 100 }, () =>
          client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const full = Math.floor(limit / (promptOf() + 25));
    const leftover = limit - full * (promptOf() + 25);
    expect(ok.length).toBe(full + (leftover > promptOf() ? 1 : 0));
    expect(h.server.tally.totalTokens).toBeLessThanOrEqual(limit);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('without maxReservation a clamped call reserves everything left, so parallel calls are refused', async () => {
    const b = budget(1_000);
    const client = h.client();
    const results = await h.within(b, () =>
      Promise.allSettled(
        [1, 2, 3].map(() => client.chat.completions.create({ model: MODEL, messages: MESSAGES })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
  });

  it('keeps .withResponse() working', async () => {
    const b = budget(10_000);
    const client = h.client();
    const { data, response, request_id } = await h.within(b, () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }).withResponse(),
    );
    expect(response.status).toBe(200);
    expect(request_id).toMatch(/^req_fake_/);
    expect(data.usage?.completion_tokens).toBe(30);
    expect((data as { _request_id?: string | null })._request_id).toBe(request_id);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 });
  });

  it('keeps .asResponse() working and meters a copy of the body', async () => {
    const b = budget(10_000);
    const client = h.client();
    const response = await h.within(b, () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }).asResponse(),
    );
    expect(response.status).toBe(200);
    const json = (await response.json()) as OpenAI.ChatCompletion;
    expect(json.usage?.completion_tokens).toBe(30);
    await vi.waitFor(async () =>
      expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 }),
    );
    expect(usageEvents(h.events, b)).toHaveLength(1);
  });

  it('charges once when both the data and the raw response are read', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, async () => {
      const promise = client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      await promise.asResponse();
      await promise;
    });
    await vi.waitFor(async () =>
      expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 }),
    );
    expect(usageEvents(h.events, b)).toHaveLength(1);
  });

  it('wrapping twice charges once', async () => {
    const b = budget(10_000);
    const client = wrapOpenAI(h.client());
    await h.within(b, () => client.chat.completions.create({ model: MODEL, messages: MESSAGES }));
    expect(usageEvents(h.events, b)).toHaveLength(1);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('rejects default budgets that are not budgets, and a ledger that is not a Ledger', () => {
    expect(() =>
      wrapOpenAI(h.raw(), {
        ledger: h.ledger,
        budgets: [{ scope: 'user', key: 'u', limit: 10 }] as never,
      }),
    ).toThrow(
      'wrapOpenAI option budgets: budgets[0] is {"scope":"user","key":"u","limit":10}, not a budget; build budgets with defineBudget({ scope, key, limit }).',
    );
    expect(() => wrapOpenAI(h.raw(), { ledger: {} as never, budgets: [budget(10)] })).toThrow(
      'Invalid ledger option of wrapOpenAI: expected a Ledger (new Ledger() or BudgetService.ledger).',
    );
  });

  it('refuses options on a client that is already wrapped, rather than ignoring them', () => {
    const client = h.client();
    expect(() => wrapOpenAI(client, { defaultMaxOutputTokens: 100 })).toThrow(
      'wrapOpenAI: this client is already wrapped; options can only be given the first time it is wrapped.',
    );
    expect(wrapOpenAI(client)).toBe(client);
  });

  it('chat.completions.parse() charges once and still parses', async () => {
    const b = budget(10_000);
    const client = h.client();
    const parsed = await h.within(b, () =>
      client.chat.completions.parse({ model: MODEL, messages: MESSAGES }),
    );
    expect(parsed.choices[0].message.parsed).toBeNull();
    expect(parsed.choices[0].message.content).toBe(' hello'.repeat(30));
    expect(usageEvents(h.events, b)).toHaveLength(1);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('chat.completions.parse() keeps .withResponse()', async () => {
    const client = h.client();
    const { data, request_id } = await h.within(budget(10_000), () =>
      client.chat.completions.parse({ model: MODEL, messages: MESSAGES }).withResponse(),
    );
    expect(data.choices[0].message.parsed).toBeNull();
    expect((data as { _request_id?: string | null })._request_id).toBe(request_id);
  });

  it('chat.completions.stream() charges once', async () => {
    const b = budget(10_000);
    const client = h.client();
    const final = await h.within(b, () =>
      client.chat.completions.stream({ model: MODEL, messages: MESSAGES }).finalChatCompletion(),
    );
    expect(final.choices[0].message.content).toBe(' hello'.repeat(30));
    expect(usageEvents(h.events, b)).toHaveLength(1);
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 });
    expect(h.server.tally.totalTokens).toBe(promptOf() + 30);
  });

  it('runTools() charges each request it sends, once', async () => {
    const b = budget(10_000);
    const client = h.client();
    const runner = h.within(b, () =>
      client.chat.completions.runTools({
        model: MODEL,
        messages: MESSAGES,
        tools: [
          {
            type: 'function',
            function: {
              name: 'noop',
              description: 'Does nothing.',
              parameters: { type: 'object', properties: {} },
              function: () => 'ok',
            },
          },
        ],
      }),
    );
    await runner.finalChatCompletion();
    expect(usageEvents(h.events, b)).toHaveLength(h.server.tally.requests);
    expect(await h.tokens(b)).toEqual({ used: h.server.tally.totalTokens, reserved: 0 });
  });

  it('meters clients made by withOptions()', async () => {
    const b = budget(10_000);
    const client = h.client().withOptions({ timeout: 5_000 });
    await h.within(b, () => client.chat.completions.create({ model: MODEL, messages: MESSAGES }));
    expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 });
  });

  it('charges every budget in the frame', async () => {
    const outer = budget(10_000);
    const inner = budget(5_000);
    const client = h.client();
    await h.within([outer, inner], () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
    );
    expect(await h.tokens(outer)).toEqual({ used: promptOf() + 30, reserved: 0 });
    expect(await h.tokens(inner)).toEqual({ used: promptOf() + 30, reserved: 0 });
  });

  it('records cached and reasoning tokens in the usage event', async () => {
    const b = budget(10_000);
    const client = h.client();
    const messages = [
      { role: 'user' as const, content: 'Think about a long question. '.repeat(20) },
    ];
    await h.within(b, () =>
      client.chat.completions.create(
        { model: 'o3-mini', messages },
        {
          headers: {
            'x-fake-cached-tokens': '64',
            'x-fake-reasoning-tokens': '16',
            [REPLY_TOKENS_HEADER]: '5',
          },
        },
      ),
    );
    const prompt = promptOf(messages, 'o3-mini');
    expect(usageEvents(h.events, b)[0].details).toEqual({
      model: 'o3-mini',
      inputTokens: prompt,
      outputTokens: 21,
      cachedInputTokens: 64,
      reasoningTokens: 16,
      source: 'provider',
    });
    expect(await h.tokens(b)).toEqual({ used: prompt + 21, reserved: 0 });
  });

  it('an uncapped call no hard-stop budget limits holds defaultMaxOutputTokens while it runs, not the most any call may', async () => {
    for (const [options, expected] of [
      [{ defaultMaxOutputTokens: 100 }, 100],
      [{}, 4096],
    ] as const) {
      // Alone, and beside a hard-stop budget that limits requests only (it caps no output).
      for (const alongside of [[], [budget({ requests: 5 })]]) {
        const b = budget(50_000, { policy: 'notify' });
        const client = h.client(options);
        await h.within([b, ...alongside], async () => {
          const stream = await client.chat.completions.create({
            model: MODEL,
            messages: MESSAGES,
            stream: true,
          });
          expect(await h.tokens(b)).toEqual({ used: 0, reserved: promptOf() + expected });
          await drain(stream);
        });
        expect(await h.tokens(b)).toEqual({ used: promptOf() + 30, reserved: 0 });
      }
    }
  });

  it('validates its options', () => {
    expect(() => wrapOpenAI(h.raw(), { budgets: [budget(1)] })).toThrow(TokencapConfigError);
    expect(() => wrapOpenAI(h.raw(), { defaultMaxOutputTokens: 0 })).toThrow(
      /defaultMaxOutputTokens/,
    );
    expect(() => wrapOpenAI(h.raw(), { chatOutputCapParameter: 'max' as 'max_tokens' })).toThrow(
      /chatOutputCapParameter/,
    );
  });
});
