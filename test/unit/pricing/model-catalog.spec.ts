import { describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../../lib/errors.js';
import {
  ANTHROPIC_MODELS,
  ModelCatalog,
  OPENAI_MODELS,
  PriceUnknownError,
} from '../../../lib/models/index.js';

describe('ModelCatalog prices', () => {
  const table = new ModelCatalog();

  it.each([
    ['gpt-4o', 'gpt-4o'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['ft:gpt-4o-mini-2024-07-18:acme::abc123', 'gpt-4o-mini'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['gpt-4.1-2025-04-14', 'gpt-4.1'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['o4-mini-2025-04-16', 'o4-mini'],
    ['gpt-5-nano-2025-08-07', 'gpt-5-nano'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-turbo-2024-04-09', 'gpt-4-turbo'],
    ['openai/gpt-4o', 'gpt-4o'],
    ['openai/gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-5.4-mini-2026-03-17', 'gpt-5.4-mini'],
  ])('resolves %s to the price of %s', (model, base) => {
    expect(table.price(model)).toEqual(OPENAI_MODELS.models[base].price);
  });

  it.each([
    ['claude-sonnet-4-20250514', 'claude-sonnet-4'],
    ['claude-opus-4-0', 'claude-opus-4'],
    ['claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['claude-3-7-sonnet-latest', 'claude-3-7-sonnet'],
    ['claude-haiku-4-5-20251001', 'claude-haiku-4-5'],
    ['anthropic/claude-sonnet-4-5', 'claude-sonnet-4-5'],
    ['claude-opus-4@20250514', 'claude-opus-4'],
    ['claude-opus-5-5', 'claude-opus-5-5'],
  ])('resolves %s to the price of %s', (model, base) => {
    expect(table.price(model)).toEqual(ANTHROPIC_MODELS.models[base].price);
  });

  it('prices the deep-research models at their own published rates', () => {
    expect(table.price('o3-deep-research')).toEqual({ input: 10, cachedInput: 2.5, output: 40 });
    expect(table.price('o3-deep-research-2025-06-26')).toEqual({
      input: 10,
      cachedInput: 2.5,
      output: 40,
    });
    expect(table.price('o4-mini-deep-research')).toEqual({ input: 2, cachedInput: 0.5, output: 8 });
    expect(table.isReasoning('o3-deep-research')).toBe(true);
  });

  it.each([
    'gpt-4o-audio-preview',
    'gpt-4o-mini-audio-preview',
    'gpt-4o-realtime-preview',
    'gpt-4o-search-preview',
    'gpt-4o-mini-tts',
    'gpt-4o-transcribe',
    'gpt-5-deep-research',
  ])('gives %s no price from its family (a distinct model), but keeps its encoding', (model) => {
    expect(table.price(model)).toBeUndefined();
    expect(() => table.requirePrice(model)).toThrow(PriceUnknownError);
    expect(table.encoding(model)).toBe('o200k_base');
    // Listed by name, it is priced.
    const listed = table.extend({ prices: { [model]: { input: 40, output: 80 } } });
    expect(listed.price(model)).toEqual({ input: 40, output: 80 });
  });

  it('still prices plain family members by their prefix', () => {
    expect(table.price('o1-preview')).toEqual(OPENAI_MODELS.models.o1.price);
    expect(table.price('gpt-5.1-codex')).toEqual(OPENAI_MODELS.models['gpt-5.1'].price);
  });

  it('finds nothing for an unknown model, and refuses it with a clear error', () => {
    expect(table.price('claude-3-5-sonnet')).toBeUndefined();
    expect(() => table.requirePrice('claude-3-5-sonnet')).toThrow(PriceUnknownError);
    expect(() => table.requirePrice('claude-3-5-sonnet')).toThrow(
      'No price for model "claude-3-5-sonnet", so a call under a usd budget cannot be bounded and was refused.',
    );
  });

  it('quotes and cuts a hostile model name in the error, so it cannot forge a log line', () => {
    const model = `evil\nINFO forged line ${'x'.repeat(100)}`;
    const message = (() => {
      try {
        table.requirePrice(model);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).not.toContain('\n');
    expect(message).toContain(`No price for model ${JSON.stringify(`${model.slice(0, 64)}…`)},`);
  });

  it('prices a call in whole micro-dollars, cached input at its own rate, rounded up once', () => {
    // gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M tokens.
    // 1,000 input of which 512 cached, 200 output: 488 × 2.5 + 512 × 1.25 + 200 × 10 = 1220 + 640 + 2000.
    expect(
      table.costMicros('gpt-4o', { inputTokens: 1000, cachedInputTokens: 512, outputTokens: 200 }),
    ).toBe(3860);
    // gpt-4o-mini: 0.15 / 0.075 / 0.6. 7 × 0.15 + 3 × 0.6 = 1.05 + 1.8 = 2.85 → 3 micro-dollars.
    expect(table.costMicros('gpt-4o-mini-2024-07-18', { inputTokens: 7, outputTokens: 3 })).toBe(3);
    // gpt-4 has no cached rate: cached tokens cost full input price. 100 × 30 + 10 × 60.
    expect(
      table.costMicros('gpt-4', { inputTokens: 100, cachedInputTokens: 50, outputTokens: 10 }),
    ).toBe(3600);
  });

  it('prices Claude cache reads and 5-minute and 1-hour cache writes each at its own rate', () => {
    // claude-sonnet-4-5: $3 in, $3.75 5m write, $6 1h write, $0.30 read, $15 out per 1M tokens.
    // 10,000 input: 4,000 read, 2,000 written for 5m, 1,000 written for 1h, 3,000 uncached; 500 out.
    // 3000 × 3 + 4000 × 0.3 + 2000 × 3.75 + 1000 × 6 + 500 × 15 = 9000 + 1200 + 7500 + 6000 + 7500.
    expect(
      table.costMicros('claude-sonnet-4-5-20250929', {
        inputTokens: 10_000,
        cachedInputTokens: 4_000,
        cacheWrite5mTokens: 2_000,
        cacheWrite1hTokens: 1_000,
        outputTokens: 500,
      }),
    ).toBe(31_200);
  });

  it('bills a whole call at long-context rates past the threshold, and not at it', () => {
    // gpt-5.4: $2.50 / $15 up to 272K input tokens; $5 / $22.50 for every token of a longer call.
    expect(table.costMicros('gpt-5.4', { inputTokens: 272_000, outputTokens: 100 })).toBe(
      272_000 * 2.5 + 100 * 15,
    );
    expect(table.costMicros('gpt-5.4', { inputTokens: 272_001, outputTokens: 100 })).toBe(
      Math.ceil(272_001 * 5 + 100 * 22.5),
    );
    // claude-haiku-5-5: $0.10 in up to 100K input tokens (cache reads included), $0.50 past it.
    expect(
      table.costMicros('claude-haiku-5-5', {
        inputTokens: 100_001,
        cachedInputTokens: 100_000,
        outputTokens: 0,
      }),
    ).toBe(Math.ceil(1 * 0.5 + 100_000 * 0.05));
  });

  it('takes user prices over the shipped ones and a default for unknown models', () => {
    const custom = new ModelCatalog({
      prices: { 'gpt-4o': { input: 1, output: 2 }, 'llama-3': { input: 0.2, output: 0.2 } },
      defaultPrice: { input: 5, output: 5 },
    });
    expect(custom.price('gpt-4o-2024-08-06')).toEqual({ input: 1, output: 2 });
    expect(custom.price('llama-3-70b')).toEqual({ input: 0.2, output: 0.2 });
    expect(custom.price('mystery')).toEqual({ input: 5, output: 5 });
    // A user price replaces only the price: the model's other facts stay.
    expect(custom.outputLimit('gpt-4o')).toBe(16_384);
    expect(custom.encoding('gpt-4o')).toBe('o200k_base');
  });

  it('rejects a malformed price naming it', () => {
    expect(() => new ModelCatalog({ prices: { x: { input: -1, output: 1 } } })).toThrow(
      TokencapConfigError,
    );
    expect(() => new ModelCatalog({ prices: { x: { input: -1, output: 1 } } })).toThrow(
      'Invalid prices["x"]: {"input":-1,"output":1}. Expected { input, cachedInput?, output } in USD per 1M tokens, each a finite number from 0 to 100000.',
    );
    expect(() => new ModelCatalog({ defaultPrice: { input: 1 } as never })).toThrow(
      'Invalid defaultPrice: {"input":1}.',
    );
    expect(
      () => new ModelCatalog({ prices: { x: { input: 1, output: 1, cachedInptu: 0 } as never } }),
    ).toThrow('Invalid prices["x"]');
    expect(
      () =>
        new ModelCatalog({
          prices: { x: { input: 1, output: 1, longContext: { input: 2, output: 2 } } as never },
        }),
    ).toThrow('Invalid prices["x"]');
  });

  it('records when and where each shipped table was taken', () => {
    for (const table of [OPENAI_MODELS, ANTHROPIC_MODELS]) {
      expect(table.takenOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    expect(OPENAI_MODELS.source).toContain('openai.com');
    expect(ANTHROPIC_MODELS.source).toContain('claude.com');
  });
});

describe('the one name rule, for every fact of every shipped model', () => {
  const catalog = new ModelCatalog();
  const names = [OPENAI_MODELS, ANTHROPIC_MODELS].flatMap((t) => Object.keys(t.models));
  const decorations: [string, (name: string) => string][] = [
    ['a snapshot date', (name) => `${name}-2026-01-31`],
    ['an Anthropic snapshot date', (name) => `${name}-20260131`],
    ['a provider prefix', (name) => `gateway/${name}`],
    ['a fine-tune', (name) => `ft:${name}:acme::abc123`],
    ['a family suffix', (name) => `${name}-preview`],
  ];

  it.each(decorations)('a name with %s resolves every fact to its base entry', (_, decorate) => {
    for (const name of names) {
      expect(catalog.facts(decorate(name)), decorate(name)).toEqual(catalog.facts(name));
    }
  });

  it('gives every shipped entry a valid price, limit and flag, and Claude the documented cache-write rates', () => {
    for (const name of names) {
      // Validates through the same path as user options: a typo in the tables fails here.
      const { encoding: _, ...facts } = catalog.facts(name);
      expect(() => new ModelCatalog({ models: { [name]: facts } }), name).not.toThrow();
    }
    for (const [name, facts] of Object.entries(ANTHROPIC_MODELS.models)) {
      const { input, cacheWrite5m, cacheWrite1h, cachedInput } = facts.price!;
      // Anthropic's table prices Haiku 3's 5-minute writes at $0.30, not 1.25 × $0.25.
      const write5m = name === 'claude-3-haiku' ? 0.3 : input * 1.25;
      expect([name, cacheWrite5m, cacheWrite1h]).toEqual([name, write5m, input * 2]);
      expect(cachedInput).toBeLessThan(input);
      expect(facts.maxOutputTokens).toBeGreaterThan(0);
    }
  });

  it('flags the reasoning models, and only them', () => {
    for (const model of [
      'o1',
      'o3-mini-2025-01-31',
      'o4-mini',
      'gpt-5',
      'gpt-5.4-mini',
      'gpt-oss-120b',
      'openai/gpt-oss-20b',
      'claude-sonnet-4-5',
    ]) {
      expect(catalog.isReasoning(model), model).toBe(true);
    }
    for (const model of [
      'gpt-4o',
      'gpt-4.1-mini',
      'gpt-5-chat-latest',
      'claude-3-5-haiku-latest',
      'llama-3-70b',
    ]) {
      expect(catalog.isReasoning(model), model).toBe(false);
    }
  });
});
