import { describe, expect, it } from 'vitest';
import {
  type BudgetDefinition,
  MAX_AMOUNT,
  defineBudget,
  normalizeLimit,
  normalizeOptions,
} from '../../../lib/core/budget.js';
import { parseDuration } from '../../../lib/core/duration.js';
import { TokencapConfigError } from '../../../lib/errors.js';

describe('defineBudget', () => {
  it('normalises a valid definition into store units', () => {
    expect(
      defineBudget({
        scope: 'user',
        key: 'u1',
        limit: { usd: 1.5, requests: 200 },
        window: '1d',
        thresholds: [0.9, 0.5],
      }),
    ).toEqual({
      id: 'user:u1',
      scope: 'user',
      key: 'u1',
      limits: { usd: 1_500_000, requests: 200 },
      policy: 'hard-stop',
      thresholds: [0.5, 0.9],
      window: { kind: 'fixed', ms: 86_400_000, tag: '86400000ms' },
      forecastHorizonMs: 86_400_000,
      ttlMs: undefined,
      maxReservation: undefined,
    });
    expect(defineBudget({ scope: 'session', key: 'a', limit: 50_000 }).thresholds).toEqual([
      0.8, 0.9,
    ]);
  });

  it.each([
    [
      { limit: 0 },
      'Invalid limit 0 for budget "session": expected a whole number of tokens ≥ 1, or an object with any of tokens, usd, requests.',
    ],
    [{ limit: -5 }, 'Invalid limit -5 for budget "session"'],
    [{ limit: Infinity }, 'Invalid limit Infinity for budget "session"'],
    [{ limit: Number.NaN }, 'Invalid limit NaN for budget "session"'],
    [{ limit: '100' }, 'Invalid limit "100" for budget "session"'],
    [{ limit: {} }, 'Invalid limit {} for budget "session"'],
    [{ limit: { euros: 5 } }, 'unknown dimension "euros"; expected tokens, usd or requests.'],
    [
      { limit: { usd: 0 } },
      'Invalid usd limit 0 for budget "session": expected a number of dollars ≥ 0.000001.',
    ],
    [
      { limit: 10, thresholds: [0.8, 1.2] },
      'Invalid threshold 1.2 for budget "session": each threshold must be a number in (0, 1].',
    ],
    [{ limit: 10, thresholds: [0] }, 'Invalid threshold 0 for budget "session"'],
    [
      { limit: 10, thresholds: 0.8 },
      'Invalid thresholds 0.8 for budget "session": expected an array of numbers in (0, 1].',
    ],
    [
      { limit: 10, policy: 'soft' },
      `Invalid policy "soft" for budget "session": expected one of 'hard-stop', 'degrade', 'notify'.`,
    ],
    [
      { limit: 10, window: '1 hour' },
      `Invalid window of budget "session": "1 hour". Expected a whole number of milliseconds ≥ 1`,
    ],
    [{ limit: 10, ttl: 0 }, 'Invalid ttl of budget "session": 0.'],
    [
      { limit: 10, maxReservation: 1.5 },
      'Invalid maxReservation 1.5 for budget "session": expected a positive whole number of tokens.',
    ],
    [{ limit: 10, key: '' }, 'Invalid key "" for budget "session": expected a non-empty string.'],
    // Tokens and requests are whole: a fraction is refused, never rounded, and named as given.
    [
      { limit: 0.5 },
      'Invalid limit 0.5 for budget "session": expected a whole number of tokens ≥ 1, or an object with any of tokens, usd, requests.',
    ],
    [
      { limit: 1.5 },
      'Invalid limit 1.5 for budget "session": expected a whole number of tokens ≥ 1, or an object with any of tokens, usd, requests.',
    ],
    [
      { limit: { tokens: 2.5 } },
      'Invalid tokens limit 2.5 for budget "session": expected a whole number of tokens ≥ 1.',
    ],
    [
      { limit: { requests: 0.5 } },
      'Invalid requests limit 0.5 for budget "session": expected a whole number of requests ≥ 1.',
    ],
    [
      { limit: { usd: 1e-9 } },
      'Invalid usd limit 1e-9 for budget "session": expected a number of dollars ≥ 0.000001.',
    ],
    [
      { limit: 10, window: 1.5 },
      'Invalid window of budget "session": 1.5. Expected a whole number of milliseconds ≥ 1',
    ],
    [
      { limit: 10, window: '0.0015s' },
      'Invalid window of budget "session": "0.0015s". Expected a whole number of milliseconds ≥ 1',
    ],
    [{ limit: 10, window: Number.NaN }, 'Invalid window of budget "session": NaN.'],
    [{ limit: 10, key: Number.NaN }, 'Invalid key NaN for budget "session"'],
    [
      { limit: 10, windw: '1h' },
      'Unknown option "windw" for budget "session"; known options: scope, key, limit, policy, thresholds, window, timeZone, forecastHorizon, ttl, maxReservation, fallbackModel, degradeAt, fallback.',
    ],
    [
      { limit: 10, scope: 'a:b' },
      `Budget scope "a:b" is invalid: expected 1-64 letters, digits, '_', '.' or '-'.`,
    ],
  ])('rejects %j with an error naming the value', (bad, message) => {
    const attempt = () => defineBudget({ scope: 'session', key: 'k', ...(bad as object) } as never);
    expect(attempt).toThrow(TokencapConfigError);
    expect(attempt).toThrow(message);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1.5h', 5_400_000],
    ['1d', 86_400_000],
    ['1.1s', 1_100],
    [2500, 2500],
  ])('parses %j as %d ms', (input, ms) => {
    expect(parseDuration(input, 'window')).toBe(ms);
  });

  it.each(['', '1w', '-1s', 'abc', null, 0, -1, Number.NaN, 1.5, '2.5ms'])(
    'rejects %j',
    (input) => {
      expect(() => parseDuration(input, 'window')).toThrow(/^Invalid window: /);
    },
  );
});

describe('degrade options', () => {
  it('defaults degradeAt to 0.9 when a fallbackModel is given', () => {
    const b = defineBudget({
      scope: 's',
      key: 'k',
      limit: 10,
      policy: 'degrade',
      fallbackModel: 'gpt-4o-mini',
    });
    expect(b).toMatchObject({ fallbackModel: 'gpt-4o-mini', degradeAt: 0.9 });
  });

  it.each([
    [
      { policy: 'hard-stop', fallbackModel: 'gpt-4o-mini' },
      `fallbackModel of budget "s" only apply to policy 'degrade', but its policy is 'hard-stop'.`,
    ],
    [
      { policy: 'degrade', degradeAt: 0.5 },
      'degradeAt of budget "s" needs a fallbackModel to switch to.',
    ],
    [
      { policy: 'degrade', fallbackModel: 'm', degradeAt: 2 },
      'Invalid degradeAt 2 for budget "s": expected a number in (0, 1].',
    ],
    [
      { policy: 'degrade', fallbackModel: '' },
      'Invalid fallbackModel "" for budget "s": expected a model name.',
    ],
    [
      { policy: 'degrade', fallback: 'sorry' },
      'Invalid fallback "sorry" for budget "s": expected a function.',
    ],
  ])('rejects %j', (bad, message) => {
    expect(() =>
      defineBudget({ scope: 's', key: 'k', limit: 10, ...(bad as object) } as never),
    ).toThrow(message);
  });
});

describe('amount bounds', () => {
  it('accepts limits up to MAX_AMOUNT store units and refuses larger ones, naming them', () => {
    expect(defineBudget({ scope: 's', key: 'k', limit: MAX_AMOUNT }).limits).toEqual({
      tokens: MAX_AMOUNT,
    });
    expect(defineBudget({ scope: 's', key: 'k', limit: { usd: 1e9 } }).limits).toEqual({
      usd: MAX_AMOUNT,
    });
    expect(() => defineBudget({ scope: 's', key: 'k', limit: MAX_AMOUNT + 1 })).toThrow(
      'Invalid limit 1000000000000001 for budget "s": at most 1000000000000000 (MAX_AMOUNT).',
    );
    expect(() => defineBudget({ scope: 's', key: 'k', limit: { usd: 2e9 } })).toThrow(
      'Invalid usd limit 2000000000 for budget "s": at most 1000000000 dollars (MAX_AMOUNT).',
    );
    expect(() => defineBudget({ scope: 's', key: 'k', limit: { requests: 1e300 } })).toThrow(
      'Invalid requests limit 1e+300 for budget "s": at most 1000000000000000 (MAX_AMOUNT).',
    );
  });
});

describe('options are read from own properties only', () => {
  it('a JSON "__proto__" key is an unknown option, never a policy', () => {
    const definition = JSON.parse(
      '{"scope":"s","key":"k","limit":10,"__proto__":{"policy":"notify"}}',
    ) as BudgetDefinition;
    expect(() => defineBudget(definition)).toThrow(
      'Unknown option "__proto__" for budget "s"; known options:',
    );
  });

  it('options inherited through the prototype configure nothing', () => {
    const inherited = Object.create({
      policy: 'notify',
      window: '1h',
      ttl: '1m',
      thresholds: [0.1],
      maxReservation: 5,
      limit: 5,
    }) as BudgetDefinition;
    Object.assign(inherited, { scope: 's', key: 'k', limit: 10 });
    const budget = defineBudget(inherited);
    expect(budget).toMatchObject({
      policy: 'hard-stop',
      thresholds: [0.8, 0.9],
      limits: { tokens: 10 },
    });
    expect(budget.window).toBeUndefined();
    expect(budget.ttlMs).toBeUndefined();
    expect(budget.maxReservation).toBeUndefined();
    // Nor through a polluted Object.prototype.
    const proto = Object.prototype as Record<string, unknown>;
    proto.policy = 'notify';
    proto.fallbackModel = 'gpt-4o-mini';
    try {
      expect(defineBudget({ scope: 's', key: 'k', limit: 10 })).toMatchObject({
        policy: 'hard-stop',
      });
      expect(normalizeOptions({}, 'test').policy).toBe('hard-stop');
    } finally {
      delete proto.policy;
      delete proto.fallbackModel;
    }
  });

  it('a limit object limits only its own dimensions', () => {
    const limit = Object.create({ tokens: 5 }) as { usd: number };
    limit.usd = 2;
    expect(normalizeLimit(limit, 'test')).toEqual({ usd: 2_000_000 });
    expect(() => normalizeLimit(Object.create({ tokens: 5 }), 'test')).toThrow(
      'Invalid limit {} for test',
    );
    // A parsed "__proto__" dimension is an unknown dimension, not a way in.
    expect(() => normalizeLimit(JSON.parse('{"__proto__":{"tokens":1}}'), 'test')).toThrow(
      'unknown dimension "__proto__"',
    );
  });
});
