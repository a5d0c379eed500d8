import { describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  defineBudget,
  type DegradedEvent,
} from '../../../lib/engine/index.js';
import { budget, MESSAGES, promptOf, useHarness } from './openai.fixture.js';

// Issue 11 item 9: a degraded call is counted, priced and capped as the model it is sent to; a
// fallback answer never puts a client's key in a header; a degrade budget decides on committed
// usage, so calls in flight do not refuse others while nothing is spent, and maxReservation holds.

describe('degrade: the model is decided first, then its cap', () => {
  const h = useHarness({ replyTokens: 20 });

  it.each([
    ['gpt-4.1', 'gpt-4o-mini', 'max_completion_tokens', 16_384],
    ['o3', 'gpt-4o-2024-05-13', 'max_completion_tokens', 4_096],
  ])(
    '%s degraded to %s is sent with the fallback model’s limit',
    async (model, fallbackModel, param, limit) => {
      const guard = budget(1_000_000); // hard-stop: caps uncapped calls at the model's own limit
      const degrade = budget(1_000, { policy: 'degrade', fallbackModel, degradeAt: 0.01 });
      await h.ledger.charge([degrade], { tokens: 100 }); // past degradeAt: the next call degrades
      await h.within([guard, degrade], () =>
        h.client().chat.completions.create({ model, messages: MESSAGES }),
      );
      expect(h.server.requests[0].body).toMatchObject({ model: fallbackModel, [param]: limit });
      const degraded = h.events.filter((e): e is DegradedEvent => e.type === 'degraded');
      expect(degraded).toEqual([expect.objectContaining({ model, fallbackModel })]);
      // Reserved and charged as the fallback model's call.
      const [usage] = await h.ledger.usage([guard]);
      expect(usage).toMatchObject({ used: promptOf(MESSAGES, fallbackModel) + 20, reserved: 0 });
    },
  );

  it.each([
    ['gpt-4.1', 30_000, 'gpt-4o-mini', 16_384, 'hard-stop'],
    ['gpt-4o', 8_000, 'gpt-4o-2024-05-13', 4_096, 'hard-stop'],
    ['gpt-4.1', 30_000, 'gpt-4o-mini', 16_384, 'notify'],
    ['gpt-4o', 8_000, 'gpt-4o-2024-05-13', 4_096, 'notify'],
  ] as const)(
    '%s asking for %i output tokens, degraded to %s, is sent at most that model’s %i (guard %s)',
    async (model, asked, fallbackModel, limit, policy) => {
      const guard = budget(1_000_000, { policy });
      const degrade = budget(1_000, { policy: 'degrade', fallbackModel, degradeAt: 0.01 });
      await h.ledger.charge([degrade], { tokens: 100 });
      await h.within([guard, degrade], () =>
        h.client().chat.completions.create({
          model,
          messages: MESSAGES,
          max_completion_tokens: asked,
        }),
      );
      expect(h.server.requests[0].body).toMatchObject({
        model: fallbackModel,
        max_completion_tokens: limit,
      });
    },
  );

  it('a refused degraded call publishes no degraded event', async () => {
    const guard = budget(5);
    const degrade = budget(1_000, {
      policy: 'degrade',
      fallbackModel: 'gpt-4o-mini',
      degradeAt: 0.01,
    });
    await h.ledger.charge([degrade], { tokens: 100 });
    await expect(
      h.within([guard, degrade], () =>
        h.client().chat.completions.create({ model: 'gpt-4.1', messages: MESSAGES }),
      ),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(h.events.filter((e) => e.type === 'degraded')).toEqual([]);
    expect(h.server.requests).toHaveLength(0);
  });
});

describe('degrade: a fallback answer never puts the key in a header', () => {
  const h = useHarness({ replyTokens: 20 });

  it.each(['пользователь', 'user-😀', 'a\r\nSet-Cookie: x=1', 'a\u0000b'])(
    'key %j: withResponse() and asResponse() work, and the header names only the scope',
    async (key) => {
      const answer = { id: 'fallback', object: 'chat.completion', choices: [] };
      const b = defineBudget({
        scope: 'user',
        key,
        limit: 1,
        policy: 'degrade',
        fallback: (() => answer) as (request: never) => unknown,
      });
      await h.ledger.charge([b], { tokens: 1 }); // spent: the fallback answers
      const client = h.client();
      const { data, response } = await h.within(b, () =>
        client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }).withResponse(),
      );
      expect(data).toEqual(answer);
      expect(response.headers.get('x-tokencap-fallback')).toBe('user');
      const raw = await h.within(b, () =>
        client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }).asResponse(),
      );
      expect(await raw.json()).toEqual(answer);
      for (const [, value] of raw.headers) expect(value).not.toContain(key);
      expect(h.server.requests).toHaveLength(0);
    },
  );
});

describe('degrade: calls in flight do not refuse each other while nothing is spent', () => {
  const h = useHarness({ replyTokens: 20 });

  it('two concurrent uncapped calls on a 4,000-token degrade budget are both served', async () => {
    const fallbackAnswers: unknown[] = [];
    const b = budget(4_000, {
      policy: 'degrade',
      fallback: ((request: unknown) => fallbackAnswers.push(request)) as (
        request: never,
      ) => unknown,
    });
    h.server.fail({ kind: 'delay', ms: 100 }); // the first call is still out when the second starts
    const client = h.client();
    const calls = [0, 1].map(() =>
      h.within(b, () => client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES })),
    );
    const results = await Promise.allSettled(calls);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(fallbackAnswers).toEqual([]);
    expect(h.server.requests).toHaveLength(2);
    expect(await h.tokens(b)).toEqual({ used: 2 * (promptOf() + 20), reserved: 0 });
  });

  it('maxReservation caps what a degrade call holds while it runs', async () => {
    const b = budget(100_000, { policy: 'degrade', maxReservation: 500 });
    h.server.fail({ kind: 'delay', ms: 100 });
    const call = h.within(b, () =>
      h.client().chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await h.tokens(b)).toEqual({ used: 0, reserved: promptOf() + 500 });
    await call;
    // Degrade never caps the request itself.
    expect(h.server.requests[0].body).not.toHaveProperty('max_completion_tokens');
  });
});
