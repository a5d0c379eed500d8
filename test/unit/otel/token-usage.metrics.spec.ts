import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { useHarness as useAnthropic } from '../anthropic/anthropic-wrapper.fixture.js';
import { drain, useHarness as useOpenAI } from '../openai/openai.fixture.js';
import { total, useTelemetry } from './otel.harness.js';

// The exported gen_ai.client.token.usage must add up to exactly what the provider billed, per
// model and token type, however many calls run at once, streamed or not.

const TOKEN_USAGE = 'gen_ai.client.token.usage';
const OPENAI_MODELS = ['gpt-4o', 'gpt-4o-mini', 'o4-mini'] as const;
let seq = 0;

const openAICall = fc.record({
  model: fc.constantFrom(...OPENAI_MODELS),
  words: fc.integer({ min: 1, max: 40 }),
  reply: fc.integer({ min: 0, max: 120 }),
  cap: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
  stream: fc.boolean(),
});

describe('gen_ai.client.token.usage: OpenAI', () => {
  const h = useOpenAI();
  const telemetry = useTelemetry();

  it('sums, per model and token type, to what the fake billed across parallel calls', async () => {
    telemetry.instrument(h.ledger);
    const client = h.client();
    const budget = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 100_000_000 });
    const exported = async (model: string, type: string) =>
      total(await telemetry.points(TOKEN_USAGE), {
        'gen_ai.request.model': model,
        'gen_ai.token.type': type,
      });
    await fc.assert(
      fc.asyncProperty(fc.array(openAICall, { minLength: 1, maxLength: 12 }), async (calls) => {
        await h.server.settled();
        h.server.reset();
        const before = new Map<string, number>();
        for (const model of OPENAI_MODELS) {
          before.set(`${model} input`, await exported(model, 'input'));
          before.set(`${model} output`, await exported(model, 'output'));
        }
        await h.within(budget, () =>
          Promise.all(
            calls.map(async (call) => {
              const params = {
                model: call.model,
                messages: [{ role: 'user' as const, content: 'word '.repeat(call.words) }],
                ...(call.cap !== undefined && { max_completion_tokens: call.cap }),
              };
              const headers = { headers: { 'x-fake-reply-tokens': String(call.reply) } };
              if (call.stream) {
                await drain(
                  await client.chat.completions.create({ ...params, stream: true }, headers),
                );
              } else {
                await client.chat.completions.create(params, headers);
              }
            }),
          ),
        );
        const tally = h.server.tally;
        for (const model of OPENAI_MODELS) {
          const billed = tally.byModel[model];
          expect((await exported(model, 'input')) - before.get(`${model} input`)!).toBe(
            billed?.promptTokens ?? 0,
          );
          expect((await exported(model, 'output')) - before.get(`${model} output`)!).toBe(
            billed?.completionTokens ?? 0,
          );
        }
      }),
      { numRuns: 15 },
    );
  });

  it('labels each point with the conventions attributes, and counts one input and one output per call', async () => {
    telemetry.instrument(h.ledger);
    const client = h.client();
    const budget = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 100_000 });
    await h.within(budget, () =>
      Promise.all([
        client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'hi' }],
        }),
        client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello there' }),
      ]),
    );
    const points = await telemetry.points(TOKEN_USAGE);
    const tally = h.server.tally;
    expect(points.map((p) => ({ attributes: p.attributes, sum: p.value, count: p.count }))).toEqual(
      expect.arrayContaining([
        {
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'gpt-4o-mini',
            'gen_ai.response.model': 'gpt-4o-mini',
            'gen_ai.token.type': 'input',
            'tokencap.usage.source': 'provider',
          },
          sum: tally.byModel['gpt-4o-mini'].promptTokens,
          count: 1,
        },
        {
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'gpt-4o-mini',
            'gen_ai.response.model': 'gpt-4o-mini',
            'gen_ai.token.type': 'output',
            'tokencap.usage.source': 'provider',
          },
          sum: tally.byModel['gpt-4o-mini'].completionTokens,
          count: 1,
        },
        {
          attributes: {
            'gen_ai.operation.name': 'embeddings',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'text-embedding-3-small',
            'gen_ai.response.model': 'text-embedding-3-small',
            'gen_ai.token.type': 'input',
            'tokencap.usage.source': 'provider',
          },
          sum: tally.byModel['text-embedding-3-small'].promptTokens,
          count: 1,
        },
      ]),
    );
    expect(points).toHaveLength(4);
    expect(await telemetry.unit(TOKEN_USAGE)).toBe('{token}');
  });

  it('tokencap.cost adds up to the dollars a usd budget was charged', async () => {
    telemetry.instrument(h.ledger);
    const client = h.client();
    const budget = defineBudget({ scope: 'team', key: `t${++seq}`, limit: { usd: 100 } });
    await h.within(budget, () =>
      Promise.all(
        OPENAI_MODELS.flatMap((model) =>
          [1, 2, 3].map((n) =>
            client.chat.completions.create({
              model,
              messages: [{ role: 'user', content: 'word '.repeat(n * 7) }],
            }),
          ),
        ),
      ),
    );
    const [usage] = await h.ledger.usage([budget]);
    const cost = await telemetry.points('tokencap.cost');
    expect(total(cost)).toBeCloseTo(usage.dimensions.usd!.used, 9);
    expect(cost.map((p) => p.attributes['gen_ai.request.model']).sort()).toEqual(
      [...OPENAI_MODELS].sort(),
    );
    expect(await telemetry.unit('tokencap.cost')).toBe('USD');
  });

  it('tokencap.refusals counts every refused call exactly once, by scope, dimension and policy', async () => {
    telemetry.instrument(h.ledger);
    const client = h.client();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 4 }),
        async (calls, fit) => {
          await h.server.settled();
          h.server.reset();
          const before = total(await telemetry.points('tokencap.refusals'));
          // Room for `fit` requests: the rest are refused before anything is sent.
          const budget = defineBudget({
            scope: 'session',
            key: `s${++seq}`,
            limit: { requests: fit },
          });
          const outcomes = await h.within(budget, () =>
            Promise.all(
              Array.from({ length: calls }, () =>
                client.chat.completions
                  .create({
                    model: 'gpt-4o',
                    messages: [{ role: 'user', content: 'hi' }],
                    max_tokens: 5,
                  })
                  .then(
                    () => 'ok',
                    (error: unknown) => (error instanceof BudgetExceededError ? 'refused' : error),
                  ),
              ),
            ),
          );
          const refused = outcomes.filter((o) => o === 'refused').length;
          expect(refused + outcomes.filter((o) => o === 'ok').length).toBe(calls);
          expect(refused).toBe(Math.max(0, calls - fit));
          expect(h.server.tally.requests).toBe(calls - refused);
          const points = await telemetry.points('tokencap.refusals');
          expect(total(points) - before).toBe(refused);
          if (refused > 0) {
            expect(points.map((p) => p.attributes)).toEqual([
              {
                'tokencap.scope': 'session',
                'tokencap.dimension': 'requests',
                'tokencap.policy': 'hard-stop',
              },
            ]);
          }
        },
      ),
      { numRuns: 20 },
    );
    expect(await telemetry.unit('tokencap.refusals')).toBe('{refusal}');
  });
});

describe('gen_ai.client.token.usage: Anthropic', () => {
  const h = useAnthropic();
  const telemetry = useTelemetry();
  const MODELS = ['claude-sonnet-4-5', 'claude-haiku-4-5'] as const;

  it('sums, per model and token type, to what the fake billed across parallel calls', async () => {
    telemetry.instrument(h.ledger);
    const client = h.client();
    const budget = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 100_000_000 });
    await h.within(budget, () =>
      Promise.all(
        Array.from({ length: 24 }, (_, i) => {
          const params = {
            model: MODELS[i % 2],
            max_tokens: 20 + i * 7,
            messages: [{ role: 'user' as const, content: 'Tell me something. '.repeat(1 + i) }],
          };
          return i % 3 === 0
            ? client.messages.create({ ...params, stream: true }).then(drain)
            : client.messages.create(params);
        }),
      ),
    );
    await h.server.settled();
    const points = await telemetry.points(TOKEN_USAGE);
    const tally = h.server.tally;
    for (const model of MODELS) {
      const billed = tally.byModel[model];
      expect(billed.requests).toBe(12);
      const match = { 'gen_ai.request.model': model, 'gen_ai.provider.name': 'anthropic' };
      expect(total(points, { ...match, 'gen_ai.token.type': 'input' })).toBe(
        billed.inputTokens + billed.cacheReadInputTokens + billed.cacheCreationInputTokens,
      );
      expect(total(points, { ...match, 'gen_ai.token.type': 'output' })).toBe(billed.outputTokens);
    }
  });
});
