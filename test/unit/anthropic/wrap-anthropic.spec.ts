import { APIPromise } from '@anthropic-ai/sdk/core/api-promise';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError, TokencapConfigError } from '../../../lib/errors.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { wrapAnthropic } from '../../../lib/providers/anthropic/wrap-anthropic.js';
import {
  budget,
  fakeInput,
  MESSAGES,
  MODEL,
  usageEvents,
  useHarness,
} from './anthropic-wrapper.fixture.js';

const estimate = (body: Record<string, unknown>) =>
  estimateMessagesInput({ model: MODEL, ...body }, MODEL).inputTokens;

describe('wrapAnthropic: messages.create', () => {
  const h = useHarness({ replyTokens: 30 });

  it('returns the same client object', () => {
    const raw = h.raw();
    expect(wrapAnthropic(raw)).toBe(raw);
  });

  it('passes calls outside any budget context straight through, unmetered', async () => {
    const client = h.client();
    const promise = client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES });
    expect(promise).toBeInstanceOf(APIPromise);
    const message = await promise;
    expect(message.usage.output_tokens).toBe(30);
    expect(h.events).toEqual([]);
  });

  it('commits exactly what Anthropic reports, input and output', async () => {
    const b = budget(10_000);
    const client = h.client();
    const message = await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(message.usage.input_tokens).toBe(fakeInput());
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
    const events = usageEvents(h.events, b);
    expect(events).toHaveLength(1);
    expect(events[0].details).toEqual({
      model: MODEL,
      inputTokens: fakeInput(),
      outputTokens: 30,
      cachedInputTokens: 0,
      cacheWrite5mTokens: 0,
      cacheWrite1hTokens: 0,
      source: 'provider',
    });
  });

  it('charges the default budgets of the options outside a context', async () => {
    const b = budget(10_000);
    const client = h.client({ ledger: h.ledger, budgets: [b] });
    await client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES });
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
  });

  it('refuses a call whose prompt cannot fit before any request is sent', async () => {
    const b = budget(200);
    const client = h.client();
    const long = 'The quarterly numbers were reviewed in detail by the whole team. '.repeat(40);
    const messages = [{ role: 'user' as const, content: long }];
    const error = await h
      .within(b, () => client.messages.create({ model: MODEL, max_tokens: 10, messages }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toMatchObject({
      scope: 'test',
      key: b.key,
      dimension: 'tokens',
      limit: 200,
      used: 0,
      policy: 'hard-stop',
    });
    // The input (estimated) and the least output the call could be sent with.
    expect((error as BudgetExceededError).requested).toBe(estimate({ messages }) + 1);
    expect(h.server.requests).toEqual([]);
    expect(h.events.map((e) => e.type)).toEqual(['refused']);
  });

  it('clamps max_tokens to what a hard-stop budget has left, without touching the caller object', async () => {
    const b = budget(300);
    const client = h.client();
    const body = { model: MODEL, max_tokens: 4096, messages: MESSAGES };
    await h.within(b, () => client.messages.create(body));
    expect(body.max_tokens).toBe(4096);
    expect(h.server.requests[0].body).toMatchObject({
      max_tokens: 300 - estimate({ messages: MESSAGES }),
    });
  });

  it('keeps a max_tokens that already fits, and max_tokens: 0 (a cache warm-up) as sent', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 50, messages: MESSAGES }),
    );
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 0, messages: MESSAGES }),
    );
    expect(h.server.requests.map((r) => (r.body as { max_tokens: number }).max_tokens)).toEqual([
      50, 0,
    ]);
    expect(await h.used(b)).toEqual({ used: 2 * fakeInput() + 30, reserved: 0 });
  });

  it('does not clamp under degrade or notify budgets', async () => {
    const b = budget(300, { policy: 'notify' });
    const client = h.client();
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 4096, messages: MESSAGES }),
    );
    expect(h.server.requests[0].body).toMatchObject({ max_tokens: 4096 });
  });

  it('keeps .withResponse() and .asResponse() working, and charges once', async () => {
    const b = budget(10_000);
    const client = h.client();
    const { data, response, request_id } = await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }).withResponse(),
    );
    expect(data.usage.output_tokens).toBe(30);
    expect(response.status).toBe(200);
    expect(request_id).toMatch(/^req_/);
    expect(request_id).toBe(response.headers.get('request-id'));
    expect((data as unknown as { _request_id: string })._request_id).toBe(request_id);
    const raw = await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }).asResponse(),
    );
    expect(((await raw.json()) as { usage: { output_tokens: number } }).usage.output_tokens).toBe(
      30,
    );
    await h.server.settled();
    await new Promise((r) => setTimeout(r, 20));
    expect(await h.used(b)).toEqual({ used: 2 * (fakeInput() + 30), reserved: 0 });
    expect(usageEvents(h.events, b)).toHaveLength(2);
  });

  it('messages.parse() is charged once', async () => {
    const b = budget(10_000);
    const client = h.client();
    const parsed = await h.within(b, () =>
      client.messages.parse({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(parsed.usage.output_tokens).toBe(30);
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
  });

  it('messages.countTokens is not metered', async () => {
    const b = budget(10_000);
    const client = h.client();
    const counted = await h.within(b, () =>
      client.messages.countTokens({ model: MODEL, messages: MESSAGES }),
    );
    expect(counted.input_tokens).toBe(fakeInput());
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
    expect(h.events).toEqual([]);
  });

  it('wrapping twice charges once; options on a wrapped client are refused', async () => {
    const b = budget(10_000);
    const client = wrapAnthropic(h.client());
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
    expect(() => wrapAnthropic(client, { counting: 'api' })).toThrow(TokencapConfigError);
  });

  it('meters clients made by withOptions()', async () => {
    const b = budget(10_000);
    const client = h.client().withOptions({ timeout: 5_000 });
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
  });

  it('charges every budget in the frame, and counts requests', async () => {
    const a = budget(10_000);
    const r = budget({ requests: 1 });
    const client = h.client();
    await h.within([a, r], () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(await h.used(a)).toEqual({ used: fakeInput() + 30, reserved: 0 });
    expect(await h.used(r, 'requests')).toEqual({ used: 1, reserved: 0 });
    await expect(
      h.within([a, r], () =>
        client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
      ),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toHaveLength(1);
  });

  it('meters beta.messages the same way', async () => {
    const b = budget(10_000);
    const client = h.client();
    await h.within(b, () =>
      client.beta.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(await h.used(b)).toEqual({ used: fakeInput() + 30, reserved: 0 });
    const small = budget(5);
    await expect(
      h.within(small, () =>
        client.beta.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
      ),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toHaveLength(1);
  });

  it('a degrade budget switches to its fallback model once its degradeAt share is spent', async () => {
    const b = budget(100, { policy: 'degrade', fallbackModel: 'claude-haiku-4-5', degradeAt: 0.3 });
    const client = h.client();
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    const second = await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: MESSAGES }),
    );
    expect(second.model).toBe('claude-haiku-4-5');
    expect(h.server.requests.map((r) => (r.body as { model: string }).model)).toEqual([
      MODEL,
      'claude-haiku-4-5',
    ]);
    expect(h.events.find((e) => e.type === 'degraded')).toMatchObject({
      action: 'fallback-model',
      model: MODEL,
      fallbackModel: 'claude-haiku-4-5',
    });
  });

  it('validates its options, naming the bad value', () => {
    expect(() => wrapAnthropic(h.raw(), { counting: 'exact' as never })).toThrow(
      'Invalid counting "exact" of wrapAnthropic',
    );
    expect(() => wrapAnthropic(h.raw(), { budgets: [budget(1)] })).toThrow(TokencapConfigError);
    expect(() => wrapAnthropic(h.raw(), { defaultMaxOutputTokens: 0 })).toThrow(
      'Invalid defaultMaxOutputTokens 0 of wrapAnthropic',
    );
  });
});

describe('wrapAnthropic: the beta output_format (structured outputs)', () => {
  const h = useHarness({ replyTokens: 30 });
  const schema = {
    type: 'object',
    properties: { answer: { type: 'string', description: 'A field of the report. '.repeat(300) } },
    required: ['answer'],
    additionalProperties: false,
  };
  const params = {
    model: MODEL,
    max_tokens: 50,
    messages: MESSAGES,
    betas: ['structured-outputs-2025-11-13'],
    output_format: { type: 'json_schema' as const, schema },
  };

  it('is counted by the estimate, as output_config.format is', () => {
    const { betas, output_format, ...plain } = params;
    void betas;
    expect(estimate(params)).toBeGreaterThan(estimate(plain) + 1000);
    expect(estimate(params)).toBe(estimate({ ...plain, output_config: { format: output_format } }));
  });

  it("is sent to count_tokens under 'api' (as output_config.format)", async () => {
    const client = h.client({ counting: 'api' });
    await h.within(budget(100_000), () => client.beta.messages.create(params));
    const count = h.server.requests.find((r) => r.path.includes('count_tokens'));
    expect(count?.body).toMatchObject({ output_config: { format: { schema } } });
  });

  for (const counting of ['estimate', 'api'] as const) {
    it(`a hard-stop budget too small for the schema refuses the call, nothing sent (${counting})`, async () => {
      const b = budget(300);
      const client = h.client({ counting });
      await expect(h.within(b, () => client.beta.messages.create(params))).rejects.toBeInstanceOf(
        BudgetExceededError,
      );
      expect(h.server.requests.filter((r) => !r.path.includes('count_tokens'))).toEqual([]);
      expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
    });

    it(`a budget that holds it is charged what the fake billed, schema included (${counting})`, async () => {
      const b = budget(100_000);
      const client = h.client({ counting });
      const message = await h.within(b, () => client.beta.messages.create(params));
      expect(message.usage.input_tokens).toBeGreaterThan(1000);
      expect(await h.used(b)).toEqual({
        used: message.usage.input_tokens + message.usage.output_tokens,
        reserved: 0,
      });
    });
  }
});
