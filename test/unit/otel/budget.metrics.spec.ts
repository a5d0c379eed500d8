import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type Budget, defineBudget } from '../../../lib/core/budget.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError, TokencapConfigError } from '../../../lib/errors.js';
import { ModelCatalog } from '../../../lib/models/model.catalog.js';
import { instrumentTokencap, OTHER_LABEL } from '../../../lib/otel/index.js';
import { MESSAGES, useHarness } from '../openai/openai.fixture.js';
import { total, useTelemetry } from './otel.harness.js';

// Budget metrics are aggregated over keys: however many keys commit, a scope and dimension is one
// series. Every label is bounded (models, scopes), and the instrumentation stops when disposed.

let seq = 0;
const ledger = () => new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
const refuse = async (l: Ledger, b: Budget) =>
  l.reserve([b], { base: { tokens: 2 } }).then(
    () => 'reserved',
    (error: unknown) => (error instanceof BudgetExceededError ? 'refused' : error),
  );

describe('tokencap.budget.usage, .limit and .utilization', () => {
  const telemetry = useTelemetry();

  it('are one series per scope and dimension, whatever the keys, with exact sums', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.nat(49), tokens: fc.integer({ min: 1, max: 500 }) }), {
          minLength: 1,
          maxLength: 60,
        }),
        async (charges) => {
          const l = ledger();
          const dispose = instrumentTokencap({ ledger: l, meterProvider: telemetry.meterProvider });
          const before = {
            usage: await telemetry.points('tokencap.budget.usage'),
            limit: await telemetry.points('tokencap.budget.limit'),
          };
          const run = ++seq;
          const tenant = defineBudget({
            scope: 'tenant',
            key: `t${run}`,
            limit: { tokens: 1_000_000, requests: 1_000 },
          });
          const used = new Map<number, number>();
          let sessionUsage = 0;
          let tenantTokens = 0;
          for (const { key, tokens } of charges) {
            const session = defineBudget({
              scope: 'session',
              key: `s${run}-${key}`,
              limit: 10_000,
            });
            await l.charge([tenant, session], { tokens, requests: 1 });
            used.set(key, (used.get(key) ?? 0) + tokens);
            sessionUsage += used.get(key)!;
            tenantTokens += tokens;
          }
          const after = await telemetry.points('tokencap.budget.usage');
          const delta = (series: Record<string, string>) =>
            total(after, series) - total(before.usage, series);
          expect(after.map((p) => p.attributes)).toEqual(
            expect.arrayContaining([
              { 'tokencap.scope': 'tenant', 'tokencap.dimension': 'tokens' },
              { 'tokencap.scope': 'tenant', 'tokencap.dimension': 'requests' },
              { 'tokencap.scope': 'session', 'tokencap.dimension': 'tokens' },
            ]),
          );
          expect(after).toHaveLength(3);
          expect(delta({ 'tokencap.scope': 'session', 'tokencap.dimension': 'tokens' })).toBe(
            sessionUsage,
          );
          const n = charges.length;
          // The tenant's usage after the i-th commit is the sum of the first i charges.
          const tenantSum = charges.reduce(
            (acc, _, i) => acc + charges.slice(0, i + 1).reduce((s, c) => s + c.tokens, 0),
            0,
          );
          expect(delta({ 'tokencap.scope': 'tenant', 'tokencap.dimension': 'tokens' })).toBe(
            tenantSum,
          );
          expect(delta({ 'tokencap.scope': 'tenant', 'tokencap.dimension': 'requests' })).toBe(
            (n * (n + 1)) / 2,
          );
          expect(tenantTokens).toBe(charges.reduce((s, c) => s + c.tokens, 0));
          const limits = await telemetry.points('tokencap.budget.limit');
          expect(
            total(limits, { 'tokencap.scope': 'session' }) -
              total(before.limit, { 'tokencap.scope': 'session' }),
          ).toBe(n * 10_000);
          const utilization = await telemetry.points('tokencap.budget.utilization');
          const sessionPoint = utilization.find(
            (p) => p.attributes['tokencap.scope'] === 'session',
          )!;
          // Each commit records used / limit: their sum is the usage sum over the limit.
          expect(sessionPoint.value).toBeCloseTo(
            total(after, { 'tokencap.scope': 'session' }) / 10_000,
            6,
          );
          dispose();
          await l.close();
        },
      ),
      { numRuns: 25 },
    );
    expect(await telemetry.unit('tokencap.budget.utilization')).toBe('1');
  });

  it('the dollars of a usd budget are in dollars', async () => {
    const l = ledger();
    telemetry.instrument(l);
    const b = defineBudget({ scope: 'team', key: `t${++seq}`, limit: { usd: 5 } });
    await l.charge([b], { usd: 1_250_000 }); // micro-dollars: $1.25
    expect((await telemetry.points('tokencap.budget.usage')).map((p) => p.value)).toEqual([1.25]);
    expect((await telemetry.points('tokencap.budget.limit')).map((p) => p.value)).toEqual([5]);
    expect((await telemetry.points('tokencap.budget.utilization')).map((p) => p.value)).toEqual([
      0.25,
    ]);
    await l.close();
  });
});

describe('bounded labels', () => {
  const h = useHarness({ replyTokens: 3 });
  const telemetry = useTelemetry();
  const models = async () =>
    [
      ...new Set(
        (await telemetry.points('gen_ai.client.token.usage')).map(
          (p) => `${p.attributes['gen_ai.request.model']} ${p.attributes['gen_ai.response.model']}`,
        ),
      ),
    ].sort();
  const callWith = async (names: readonly string[]) => {
    const client = h.client();
    const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 1_000_000 });
    await h.within(b, () =>
      Promise.all(
        names.map((model) =>
          client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 10 }),
        ),
      ),
    );
  };

  it('by default a model is labelled by its catalog name, and one the catalog lacks as other', async () => {
    telemetry.instrument(h.ledger);
    await callWith(['gpt-4o-2024-08-06', 'gpt-4o-mini', 'my-local-llama', 'another-model']);
    expect(await models()).toEqual([
      'gpt-4o gpt-4o',
      'gpt-4o-mini gpt-4o-mini',
      `${OTHER_LABEL} ${OTHER_LABEL}`,
    ]);
    // Nothing is lost to the bucket: its tokens are the unknown models' bill.
    const points = await telemetry.points('gen_ai.client.token.usage');
    const tally = h.server.tally.byModel;
    expect(
      total(points, { 'gen_ai.request.model': OTHER_LABEL, 'gen_ai.token.type': 'input' }),
    ).toBe(tally['my-local-llama'].promptTokens + tally['another-model'].promptTokens);
  });

  it('a catalog given to the instrumentation names models it adds', async () => {
    telemetry.instrument(h.ledger, {
      catalog: new ModelCatalog({ prices: { 'my-local-llama': { input: 0.1, output: 0.2 } } }),
    });
    await callWith(['my-local-llama', 'another-model']);
    expect(await models()).toEqual([
      'my-local-llama my-local-llama',
      `${OTHER_LABEL} ${OTHER_LABEL}`,
    ]);
  });

  it('an allowlist keeps only the names it lists', async () => {
    telemetry.instrument(h.ledger, { models: ['gpt-4o-mini', 'my-local-llama'] });
    await callWith(['gpt-4o', 'gpt-4o-mini', 'my-local-llama']);
    expect(await models()).toEqual([
      'gpt-4o-mini gpt-4o-mini',
      'my-local-llama my-local-llama',
      `${OTHER_LABEL} ${OTHER_LABEL}`,
    ]);
  });

  it('past maxLabelValues a new scope is labelled other, with one warning', async () => {
    const l = ledger();
    const warn = vi.fn();
    telemetry.instrument(l, { maxLabelValues: 2, logger: { warn } });
    for (const scope of ['a', 'b', 'c', 'd', 'a', 'c']) {
      expect(await refuse(l, defineBudget({ scope, key: `k${++seq}`, limit: 1 }))).toBe('refused');
    }
    const points = await telemetry.points('tokencap.refusals');
    expect(
      Object.fromEntries(points.map((p) => [p.attributes['tokencap.scope'], p.value])),
    ).toEqual({ a: 2, b: 1, [OTHER_LABEL]: 3 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('more than 2 scope values');
    await l.close();
  });

  it("a logger that throws at the cap loses neither the call's points nor the process", async () => {
    const warn = vi.fn(() => {
      throw new Error('log sink down');
    });
    telemetry.instrument(h.ledger, { maxLabelValues: 1, logger: { warn } });
    const names = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'gpt-4o-mini'];
    await callWith(names);
    // Every call's two points are there, summing to the bill (the 2nd model met the cap).
    const points = await telemetry.points('gen_ai.client.token.usage');
    const input = points.filter((p) => p.attributes['gen_ai.token.type'] === 'input');
    expect(input.reduce((sum, p) => sum + p.count, 0)).toBe(4);
    expect(total(points, { 'gen_ai.token.type': 'input' })).toBe(h.server.tally.promptTokens);
    expect(total(points, { 'gen_ai.token.type': 'output' })).toBe(h.server.tally.completionTokens);
    expect(warn).toHaveBeenCalledOnce();
  });

  it('a scope allowlist labels every other scope other', async () => {
    const l = ledger();
    telemetry.instrument(l, { scopes: ['tenant'] });
    for (const scope of ['tenant', 'session', 'user']) {
      await refuse(l, defineBudget({ scope, key: `k${++seq}`, limit: 1 }));
    }
    const points = await telemetry.points('tokencap.refusals');
    expect(
      Object.fromEntries(points.map((p) => [p.attributes['tokencap.scope'], p.value])),
    ).toEqual({ tenant: 1, [OTHER_LABEL]: 2 });
    await l.close();
  });
});

describe('instrumentTokencap', () => {
  const telemetry = useTelemetry();

  it('stops recording once disposed', async () => {
    const l = ledger();
    const dispose = telemetry.instrument(l);
    const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 1 });
    await refuse(l, b);
    dispose();
    await refuse(l, b);
    await l.charge([b], { tokens: 1 });
    expect((await telemetry.points('tokencap.refusals')).map((p) => p.value)).toEqual([1]);
    expect(await telemetry.points('tokencap.budget.usage')).toEqual([]);
    await l.close();
  });

  it('budgetHistograms: false records no budget histogram, and still counts refusals', async () => {
    const l = ledger();
    telemetry.instrument(l, { budgetHistograms: false });
    const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 1 });
    await l.charge([b], { tokens: 1 });
    await refuse(l, b);
    for (const name of ['usage', 'limit', 'utilization']) {
      expect(await telemetry.points(`tokencap.budget.${name}`)).toEqual([]);
    }
    expect((await telemetry.points('tokencap.refusals')).map((p) => p.value)).toEqual([1]);
    await l.close();
  });

  it('meterProvider: false records no metric', async () => {
    const l = ledger();
    const getMeter = vi.spyOn(telemetry.meterProvider, 'getMeter');
    telemetry.instrument(l, { meterProvider: false });
    await refuse(l, defineBudget({ scope: 'user', key: `u${++seq}`, limit: 1 }));
    expect(getMeter).not.toHaveBeenCalled();
    await l.close();
  });

  it.each([
    [{ ledger: undefined }, 'Invalid ledger option'],
    [{ ledger: {} }, 'Invalid ledger option'],
    [{ meterProvider: {} }, 'Invalid meterProvider option'],
    [{ models: 'all' }, 'Invalid models option of instrumentTokencap "all"'],
    [{ models: ['gpt-4o', 4] }, 'Invalid models option'],
    [{ scopes: 'tenant' }, 'Invalid scopes option of instrumentTokencap "tenant"'],
    [{ maxLabelValues: 0 }, 'Invalid maxLabelValues option of instrumentTokencap 0'],
    [{ maxLabelValues: 1.5 }, 'Invalid maxLabelValues option of instrumentTokencap 1.5'],
    [{ catalog: {} }, 'Invalid catalog option'],
    [{ maxLabelValues: Number.NaN }, 'Invalid maxLabelValues option of instrumentTokencap NaN'],
    [{ spans: 'no' }, 'Invalid spans option of instrumentTokencap "no": expected true or false.'],
    [{ spans: 0 }, 'Invalid spans option of instrumentTokencap 0: expected true or false.'],
    [
      { budgetHistograms: 'false' },
      'Invalid budgetHistograms option of instrumentTokencap "false"',
    ],
    [{ budgetHistograms: null }, 'Invalid budgetHistograms option of instrumentTokencap null'],
    [
      { span: false },
      'Unknown option "span" for instrumentTokencap; known options: ledger, meterProvider, budgetHistograms, spans, models, scopes, maxLabelValues, catalog, logger.',
    ],
    [{ budgetHistogram: false }, 'Unknown option "budgetHistogram" for instrumentTokencap;'],
    [{ maxLabelValue: 1 }, 'Unknown option "maxLabelValue" for instrumentTokencap;'],
    [
      { logger: {} },
      'Invalid logger option of instrumentTokencap: expected an object with a warn(message) method.',
    ],
    [{ logger: null }, 'Invalid logger option of instrumentTokencap'],
    [{ logger: { warn: 'loud' } }, 'Invalid logger option of instrumentTokencap'],
    [
      { scopes: ['tenant', 'not a scope!'] },
      'Scope name in the scopes option of instrumentTokencap: "not a scope!" is invalid: expected 1-64 letters, digits,',
    ],
    [{ scopes: [''] }, 'Scope name in the scopes option of instrumentTokencap: "" is invalid'],
    [
      { models: ['gpt-4o', ''] },
      'Invalid models option of instrumentTokencap ["gpt-4o",""]: expected \'catalog\' or a list of non-empty model names.',
    ],
  ])('rejects %j, naming the option', (bad, message) => {
    const l = ledger();
    const options = { ledger: l, ...bad } as unknown as Parameters<typeof instrumentTokencap>[0];
    expect(() => instrumentTokencap(options)).toThrow(TokencapConfigError);
    expect(() => instrumentTokencap(options)).toThrow(message);
  });
});
