import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { REPLY_TOKENS_HEADER } from '../../../lib/testing/index.js';
import { budget, drain, MESSAGES, MODEL, promptOf, useHarness } from './openai.fixture.js';

const FALLBACK_MODEL = 'gpt-4o-mini';

describe('wrapOpenAI: degrade budgets', () => {
  const h = useHarness({ replyTokens: 20 });

  it('switches to fallbackModel from degradeAt of the limit on, and says so once', async () => {
    const b = budget(1_000, { policy: 'degrade', fallbackModel: FALLBACK_MODEL, degradeAt: 0.5 });
    const client = h.client();
    await h.within(b, async () => {
      // 2 × (prompt + 20) stays under 500; the third call is sent at 2 × (prompt + 20) + 480 used.
      await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      await client.chat.completions.create(
        { model: MODEL, messages: MESSAGES },
        { headers: { [REPLY_TOKENS_HEADER]: '480' } },
      );
      const degraded = await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      expect(degraded.model).toBe(FALLBACK_MODEL);
    });
    expect(h.server.requests.map((r) => (r.body as { model: string }).model)).toEqual([
      MODEL,
      MODEL,
      MODEL,
      FALLBACK_MODEL,
    ]);
    const degradedEvents = h.events.filter((e) => e.type === 'degraded');
    expect(degradedEvents).toEqual([
      {
        type: 'degraded',
        action: 'fallback-model',
        scope: b.scope,
        key: b.key,
        at: expect.any(Number),
        model: MODEL,
        fallbackModel: FALLBACK_MODEL,
      },
    ]);
    expect(h.server.tally.byModel[FALLBACK_MODEL].requests).toBe(1);
    const [usage] = await h.ledger.usage([b]);
    expect(usage.used).toBe(h.server.tally.totalTokens);
  });

  it('answers with fallback once the budget is spent, without calling the provider', async () => {
    const answer = {
      id: 'fallback',
      object: 'chat.completion',
      choices: [],
    } as unknown as OpenAI.ChatCompletion;
    const requests: unknown[] = [];
    const b = budget(100, {
      policy: 'degrade',
      fallback: ((request: unknown) => {
        requests.push(request);
        return answer;
      }) as (request: never) => unknown,
    });
    const client = h.client();
    await h.within(b, async () => {
      const first = await client.chat.completions.create(
        { model: MODEL, messages: MESSAGES },
        { headers: { [REPLY_TOKENS_HEADER]: '200' } },
      );
      expect(first.usage?.total_tokens).toBe(promptOf() + 200); // degrade lets a call cross the limit
      const second = await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      expect(second).toBe(answer);
      const { data, response } = await client.chat.completions
        .create({ model: MODEL, messages: MESSAGES })
        .withResponse();
      expect(data).toBe(answer);
      expect(await response.json()).toEqual(answer);
    });
    expect(h.server.requests).toHaveLength(1);
    expect(requests).toEqual([
      { model: MODEL, messages: MESSAGES },
      { model: MODEL, messages: MESSAGES },
    ]);
    const degraded = h.events.filter((e) => e.type === 'degraded');
    expect(degraded).toHaveLength(2);
    expect(degraded[0]).toMatchObject({
      action: 'fallback-response',
      scope: b.scope,
      key: b.key,
      model: MODEL,
    });
    const [usage] = await h.ledger.usage([b]);
    expect(usage).toMatchObject({ used: promptOf() + 200, reserved: 0 });
  });

  it('returns a streamed request the fallback as it is', async () => {
    const chunks = [{ choices: [{ index: 0, delta: { content: 'Budget spent.' } }] }];
    const b = budget(1, {
      policy: 'degrade',
      fallback: (() =>
        (async function* () {
          yield* chunks;
        })()) as (request: never) => unknown,
    });
    const client = h.client();
    await h.within(b, () => client.chat.completions.create({ model: MODEL, messages: MESSAGES }));
    const stream = await h.within(b, () =>
      client.chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true }),
    );
    expect(await drain(stream)).toEqual(chunks);
  });

  it('throws BudgetExceededError once a degrade budget without fallback is spent', async () => {
    const b = budget(10, { policy: 'degrade', fallbackModel: FALLBACK_MODEL });
    const client = h.client();
    await h.within(b, async () => {
      await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
      await expect(
        client.chat.completions.create({ model: MODEL, messages: MESSAGES }),
      ).rejects.toThrow(BudgetExceededError);
    });
    expect(h.server.requests).toHaveLength(1);
  });
});
