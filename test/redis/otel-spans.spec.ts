import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Budget, defineBudget } from '../../lib/core/budget.js';
import { runWithBudgets } from '../../lib/core/budget-context.js';
import { Ledger } from '../../lib/core/ledger.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../lib/errors.js';
import { wrapOpenAI } from '../../lib/providers/openai/wrap-openai.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { drain, MESSAGES, promptOf, useHarness } from '../unit/openai/openai.fixture.js';
import { useTelemetry } from '../unit/otel/otel.harness.js';
import { REDIS_URL, deleteByPrefix, redisAvailable, uniquePrefix } from './support/redis-env.js';

// Span attributes and span events land on the span active around the call, on both stores: the
// Redis store commits asynchronously, and the events it publishes must still find the span.

const available = await redisAvailable('the OpenTelemetry span tests');
const stores: [string, boolean][] = [
  ['memory', true],
  ['redis', available],
];

describe.each(stores)('span attributes and events (%s)', (name, run) => {
  const h = useHarness({ replyTokens: 30 });
  const telemetry = useTelemetry();
  const prefix = uniquePrefix('otel');
  let client: Redis | undefined;
  let seq = 0;
  const ledgers: Ledger[] = [];
  const ledger = () => {
    const store: LedgerStore =
      name === 'redis'
        ? new RedisLedgerStore({ client: client!, prefix })
        : new MemoryLedgerStore({ sweepInterval: false });
    const created = new Ledger({ store });
    ledgers.push(created);
    telemetry.instrument(created);
    return created;
  };
  const budget = (options: Partial<Parameters<typeof defineBudget>[0]> = {}): Budget =>
    defineBudget({ scope: 'user', key: `u${++seq}`, limit: 100_000, ...options });

  beforeAll(() => {
    if (name === 'redis' && run) client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const l of ledgers) await l.close();
    if (client) {
      await deleteByPrefix(client, prefix);
      await client.quit();
    }
  });

  it.skipIf(!run)(
    'a call writes the conventions attributes, with the cap it was sent with',
    async () => {
      const l = ledger();
      const openai = wrapOpenAI(h.raw());
      // 200 tokens: the call asking for 1,000 output tokens is sent with what is left after its input.
      const b = budget({ limit: 200 });
      const { span } = await telemetry.inSpan(() =>
        runWithBudgets(l, [b], () =>
          openai.chat.completions.create({
            model: 'gpt-4o',
            messages: MESSAGES,
            max_tokens: 1_000,
          }),
        ),
      );
      const sent = h.server.requests[0].body as { max_tokens: number };
      expect(sent.max_tokens).toBe(200 - promptOf());
      const tally = h.server.tally;
      expect(span.attributes).toEqual({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o',
        'gen_ai.request.max_tokens': 200 - promptOf(),
        'gen_ai.usage.input_tokens': tally.promptTokens,
        'gen_ai.usage.output_tokens': tally.completionTokens,
      });
      expect(tally.completionTokens).toBe(30);
      expect(span.events).toEqual([]);
    },
  );

  it.skipIf(!run)('calls in one span add up; an uncapped call sets no max_tokens', async () => {
    const l = ledger();
    const openai = wrapOpenAI(h.raw());
    const b = budget({ policy: 'notify' });
    const { span } = await telemetry.inSpan(() =>
      runWithBudgets(l, [b], async () => {
        await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
        await drain(
          await openai.chat.completions.create({
            model: 'gpt-4o',
            messages: MESSAGES,
            stream: true,
          }),
        );
      }),
    );
    const tally = h.server.tally;
    expect(tally.requests).toBe(2);
    expect(span.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': tally.promptTokens,
      'gen_ai.usage.output_tokens': tally.completionTokens,
    });
    expect(tally.promptTokens).toBe(2 * promptOf());
  });

  it.skipIf(!run)('a refused call adds a tokencap.refused event and sends nothing', async () => {
    const l = ledger();
    const openai = wrapOpenAI(h.raw());
    const b = budget({ limit: 5 });
    const { result, span } = await telemetry.inSpan(() =>
      runWithBudgets(l, [b], () =>
        openai.chat.completions
          .create({ model: 'gpt-4o', messages: MESSAGES })
          .catch((error: unknown) => error),
      ),
    );
    expect(result).toBeInstanceOf(BudgetExceededError);
    expect(h.server.tally.requests).toBe(0);
    expect(span.attributes).toEqual({});
    expect(span.events.map((e) => ({ name: e.name, attributes: e.attributes }))).toEqual([
      {
        name: 'tokencap.refused',
        attributes: {
          'tokencap.scope': 'user',
          'tokencap.key': b.key,
          'tokencap.dimension': 'tokens',
          'tokencap.policy': 'hard-stop',
          'tokencap.used': 0,
          'tokencap.reserved': 0,
          'tokencap.limit': 5,
          'tokencap.requested': promptOf() + 1,
        },
      },
    ]);
  });

  it.skipIf(!run)('crossing thresholds and the limit adds their events, in order', async () => {
    const l = ledger();
    const openai = wrapOpenAI(h.raw());
    const used = promptOf() + 30;
    // notify: the call goes through; it crosses 50% and 100% of a limit of `used`.
    const b = budget({ limit: used, policy: 'notify', thresholds: [0.5] });
    const { span } = await telemetry.inSpan(() =>
      runWithBudgets(l, [b], () =>
        openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
      ),
    );
    expect(span.events.map((e) => ({ name: e.name, attributes: e.attributes }))).toEqual([
      {
        name: 'tokencap.threshold',
        attributes: {
          'tokencap.scope': 'user',
          'tokencap.key': b.key,
          'tokencap.dimension': 'tokens',
          'tokencap.threshold': 0.5,
          'tokencap.used': used,
          'tokencap.limit': used,
        },
      },
      {
        name: 'tokencap.exhausted',
        attributes: {
          'tokencap.scope': 'user',
          'tokencap.key': b.key,
          'tokencap.dimension': 'tokens',
          'tokencap.used': used,
          'tokencap.limit': used,
        },
      },
    ]);
  });

  it.skipIf(!run)(
    'a degraded call adds a tokencap.degraded event and reports the model sent',
    async () => {
      const l = ledger();
      const openai = wrapOpenAI(h.raw());
      const b = budget({
        limit: 1_000,
        policy: 'degrade',
        fallbackModel: 'gpt-4o-mini',
        degradeAt: 0.5,
      });
      await l.charge([b], { tokens: 600 });
      const { span } = await telemetry.inSpan(() =>
        runWithBudgets(l, [b], () =>
          openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 50 }),
        ),
      );
      expect(h.server.tally.byModel['gpt-4o-mini'].requests).toBe(1);
      expect(span.events.map((e) => ({ name: e.name, attributes: e.attributes }))).toEqual([
        {
          name: 'tokencap.degraded',
          attributes: {
            'tokencap.scope': 'user',
            'tokencap.key': b.key,
            'tokencap.action': 'fallback-model',
            'tokencap.model': 'gpt-4o',
            'tokencap.fallback_model': 'gpt-4o-mini',
          },
        },
      ]);
      expect(span.attributes['gen_ai.request.model']).toBe('gpt-4o-mini');
      expect(span.attributes['gen_ai.request.max_tokens']).toBe(50);
    },
  );

  it.skipIf(!run)('spans: false writes nothing on the span; metrics still count', async () => {
    const store: LedgerStore =
      name === 'redis'
        ? new RedisLedgerStore({ client: client!, prefix })
        : new MemoryLedgerStore({ sweepInterval: false });
    const l = new Ledger({ store });
    ledgers.push(l);
    telemetry.instrument(l, { spans: false });
    const openai = wrapOpenAI(h.raw());
    const b = budget({ limit: 5 });
    const { span } = await telemetry.inSpan(() =>
      runWithBudgets(l, [b], () =>
        openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }).catch(() => null),
      ),
    );
    expect(span.attributes).toEqual({});
    expect(span.events).toEqual([]);
    expect((await telemetry.points('tokencap.refusals')).map((p) => p.value)).toEqual([1]);
  });
});
