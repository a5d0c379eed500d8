import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';

import fc from 'fast-check';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { TokencapConfigError } from '../../../lib/errors.js';
import { ClientConnection } from '../../../lib/testing/client.connection.js';
import {
  type FakeOpenAIOptions,
  resolveFakeOpenAIOptions,
} from '../../../lib/testing/fake-openai.options.js';
import {
  type FakeFault,
  type FakeOpenAIServer,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';

// Users build their own budget tests on this server, so every option and fault parameter it
// accepts is checked as a class: type, range, unknown keys, keys read through a prototype. Each
// bad value is a TokencapConfigError naming the option and the value; each good one works.

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Every option, with a model of what it accepts (independent of the implementation). */
const OPTION_RULES: Record<keyof FakeOpenAIOptions, (value: unknown) => boolean> = {
  port: integerIn(0, 65_535),
  host: nonEmptyString,
  replyTokens: integerIn(0, 1_000_000),
  replyStyle: (v) => v === 'repeat' || v === 'prose',
  reasoningTokens: integerIn(0, 1_000_000),
  latencyMs: integerIn(0, MAX_SAFE),
  tokensPerChunk: integerIn(1, 1_000_000),
  chunkDelayMs: integerIn(0, MAX_SAFE),
  apiKey: nonEmptyString,
  promptCaching: (v) => typeof v === 'boolean',
  embeddingDimensions: integerIn(1, 4096),
  modelSnapshots: (v) =>
    isPlain(v) && Object.values(v).every((s) => typeof s === 'string' && s !== ''),
  recordRequests: (v) => typeof v === 'boolean',
  keepAlive: (v) => typeof v === 'boolean',
  now: (v) => typeof v === 'function',
};

// Values of every type, and the edges of every range above.
const EDGES: unknown[] = [
  null,
  true,
  false,
  '',
  '5',
  'false',
  0,
  1,
  -1,
  0.5,
  8,
  4096,
  4097,
  65_535,
  65_536,
  1_000_000,
  1_000_001,
  2 ** 31,
  MAX_SAFE,
  MAX_SAFE + 2,
  NaN,
  Infinity,
  -Infinity,
  10n,
  Symbol('x'),
  [],
  {},
  { 'gpt-4o': 'gpt-4o-2024-08-06' },
  { 'gpt-4o': 5 },
  { 'gpt-4o': '' },
  () => 1,
  new Map(),
  new Date(0),
];

describe('startFakeOpenAI options', () => {
  it.each(Object.keys(OPTION_RULES))(
    '%s: accepts exactly the values of its type and range, and names any other',
    (name) => {
      const accepts = OPTION_RULES[name as keyof FakeOpenAIOptions];
      for (const value of EDGES) {
        const resolve = () => resolveFakeOpenAIOptions({ [name]: value } as FakeOpenAIOptions);
        if (accepts(value)) {
          expect(resolve, `${name}: ${String(value)}`).not.toThrow();
        } else {
          expect(resolve, `${name}: ${String(value)}`).toThrow(TokencapConfigError);
          expect(resolve).toThrow(`startFakeOpenAI: ${name}`);
        }
      }
    },
  );

  it('accepts exactly the values of each option’s type and range (property)', () => {
    const names = Object.keys(OPTION_RULES) as Array<keyof FakeOpenAIOptions>;
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.anything({ withBigInt: true }), (name, value) => {
        if (value === undefined) return;
        const resolve = () => resolveFakeOpenAIOptions({ [name]: value } as FakeOpenAIOptions);
        if (OPTION_RULES[name](value)) expect(resolve).not.toThrow();
        else expect(resolve).toThrow(TokencapConfigError);
      }),
      { numRuns: 500 },
    );
  });

  it('names the option and the bad value in the message', () => {
    expect(() => resolveFakeOpenAIOptions({ tokensPerChunk: 0 })).toThrow(
      'startFakeOpenAI: tokensPerChunk must be an integer from 1 to 1000000, got 0.',
    );
    expect(() => resolveFakeOpenAIOptions({ embeddingDimensions: 0 })).toThrow(
      'startFakeOpenAI: embeddingDimensions must be an integer from 1 to 4096, got 0.',
    );
    expect(() => resolveFakeOpenAIOptions({ host: 'x'.repeat(500) as string, port: -1 })).toThrow(
      'startFakeOpenAI: port must be an integer from 0 to 65535, got -1.',
    );
  });

  it.each([
    ['replyToken', 'replyTokens'],
    ['chunkDelay', 'chunkDelayMs'],
    ['ReplyTokens', 'replyTokens'],
  ])('refuses the unknown key %s and suggests %s', async (key, suggestion) => {
    await expect(startFakeOpenAI({ [key]: 5 } as FakeOpenAIOptions)).rejects.toThrow(
      `startFakeOpenAI: unknown option "${key}" (did you mean "${suggestion}"?)`,
    );
  });

  it('refuses keys with no near match, prototype keys and options read through a prototype', async () => {
    await expect(startFakeOpenAI({ speed: 'fast' } as FakeOpenAIOptions)).rejects.toThrow(
      /unknown option "speed"; known options: port, host/,
    );
    const parsed = JSON.parse('{"__proto__": {"replyTokens": 1}}') as FakeOpenAIOptions;
    await expect(startFakeOpenAI(parsed)).rejects.toThrow('unknown option "__proto__"');
    await expect(startFakeOpenAI({ constructor: 1 } as FakeOpenAIOptions)).rejects.toThrow(
      'unknown option "constructor"',
    );
    const inherited = Object.create({ replyTokens: 3 }) as FakeOpenAIOptions;
    await expect(startFakeOpenAI(inherited)).rejects.toThrow(
      'startFakeOpenAI: its options must be a plain object, got an object.',
    );
    for (const notOptions of [null, 'fast', 5, [], new Map()]) {
      await expect(startFakeOpenAI(notOptions as FakeOpenAIOptions)).rejects.toThrow(
        TokencapConfigError,
      );
    }
  });

  it('honours the edges of each range', async () => {
    const server = await startFakeOpenAI({
      replyTokens: 0,
      tokensPerChunk: 1_000_000,
      embeddingDimensions: 4096,
    });
    try {
      const client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
      const chat = await client.chat.completions.create({ model: 'gpt-4o', messages: [hi] });
      expect(chat.choices[0].message.content).toBe('');
      expect(chat.usage?.completion_tokens).toBe(0);
      const embedding = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'x',
        encoding_format: 'float',
      });
      expect(embedding.data[0].embedding).toHaveLength(4096);
    } finally {
      await server.close();
    }
  });
});

const hi = { role: 'user' as const, content: 'Hi' };

describe('server.fail() parameters', () => {
  let server: FakeOpenAIServer;
  let client: OpenAI;
  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: 10 });
    client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
  });
  afterEach(async () => {
    await server.settled();
    server.reset();
  });
  afterAll(() => server.close());

  const bad = (fault: unknown, options?: unknown) => () =>
    server.fail(fault as FakeFault, options as never);

  it.each([
    [{ kind: 'explode' }, 'fail(): kind must be one of error, delay, cut-stream'],
    [{ kind: 'constructor' }, 'got "constructor"'],
    [{ kind: '__proto__' }, 'got "__proto__"'],
    [{ kind: 5 }, 'got 5'],
    [{}, 'got undefined'],
    [null, 'fail(): the fault must be a plain object, got null.'],
    ['error', 'fail(): the fault must be a plain object, got "error".'],
    [Object.create({ kind: 'omit-usage' }), 'the fault must be a plain object'],
  ])('refuses the fault %j', (fault, message) => {
    expect(bad(fault)).toThrow(TokencapConfigError);
    expect(bad(fault)).toThrow(message);
  });

  it.each([
    [{ kind: 'delay', msec: 5 }, 'fail(delay): unknown option "msec"'],
    [{ kind: 'delay', ms: 5, times: 2 }, 'fail(delay): unknown option "times"'],
    [{ kind: 'over-report-usage', multiplier: 2 }, 'unknown option "multiplier"'],
    [{ kind: 'omit-usage', usage: {} }, 'fail(omit-usage): unknown option "usage"'],
    [{ kind: 'cut-stream', afterChunk: 1 }, 'did you mean "afterChunks"?'],
    [{ kind: 'error', status: 500, header: {} }, 'did you mean "headers"?'],
  ])('refuses unknown parameters: %j', (fault, message) => {
    expect(bad(fault)).toThrow(message);
  });

  // [fault and parameter, text the error names, accepted values, refused values, fault builder]
  const PARAMETER_CASES: Array<[string, string, unknown[], unknown[], (v: unknown) => FakeFault]> =
    [
      [
        'over-report-usage factor',
        'factor',
        [1, 1.5, 2, 1_000_000],
        [NaN, Infinity, -Infinity, 0, 0.99, -1, 1_000_001, '2', null, true, {}],
        (factor) => ({ kind: 'over-report-usage', factor }) as FakeFault,
      ],
      [
        'over-report-usage extraTokens',
        'extraTokens',
        [0, 1, 1_000_000_000],
        [-1, 1.5, NaN, Infinity, 1_000_000_001, '5', null],
        (extraTokens) => ({ kind: 'over-report-usage', extraTokens }) as FakeFault,
      ],
      [
        'delay ms',
        'ms must',
        [0, 1, 2 ** 31, MAX_SAFE],
        [-1, 1.5, NaN, Infinity, MAX_SAFE + 2, '5', null, undefined],
        (ms) => ({ kind: 'delay', ms }) as FakeFault,
      ],
      [
        'cut-stream afterChunks',
        'afterChunks',
        [0, 3],
        [-1, 1.5, NaN, Infinity, '1', null, undefined],
        (afterChunks) => ({ kind: 'cut-stream', afterChunks }) as FakeFault,
      ],
      [
        'error status',
        'status',
        [400, 429, 500, 599],
        [200, 399, 600, 404.5, NaN, '500', null, undefined],
        (status) => ({ kind: 'error', status }) as FakeFault,
      ],
      [
        'error message',
        'message',
        ['boom', ''],
        [5, null, {}],
        (message) => ({ kind: 'error', status: 500, message }) as FakeFault,
      ],
      [
        'error code',
        'code',
        ['messages', null],
        [5, {}, true],
        (code) => ({ kind: 'error', status: 400, code }) as FakeFault,
      ],
      [
        'error headers',
        'header',
        [{}, { 'retry-after': '1' }],
        [
          { 'bad header': 'x' },
          { 'x-a': 5 },
          { 'x-a': 'line\r\nx-injected: 1' },
          null,
          'retry-after: 1',
          [],
        ],
        (headers) => ({ kind: 'error', status: 503, headers }) as FakeFault,
      ],
      [
        'malformed-usage usage',
        'usage',
        [{ prompt_tokens: 'x' }, null, 'junk', 7],
        [10n, cyclic()],
        (usage) => ({ kind: 'malformed-usage', usage }) as FakeFault,
      ],
    ];

  it.each(PARAMETER_CASES)(
    '%s: accepts its range, names every other value',
    (label, named, good, refused, build) => {
      for (const value of good) server.fail(build(value)).cancel();
      for (const value of refused) {
        expect(bad(build(value)), `${label}: ${String(value)}`).toThrow(TokencapConfigError);
        expect(bad(build(value)), `${label}: ${String(value)}`).toThrow(named);
      }
    },
  );

  it.each([
    ['times: 0', { times: 0 }, 'fail(): times must be an integer from 1'],
    ['times: 1.5', { times: 1.5 }, 'times'],
    ['times: NaN', { times: NaN }, 'got NaN'],
    ['times: -Infinity', { times: -Infinity }, 'got -Infinity'],
    ["times: '2'", { times: '2' }, 'got "2"'],
    ["when: 'always'", { when: 'always' }, 'fail(): when must be a function, got "always".'],
    ['tiems: 2', { tiems: 2 }, 'unknown option "tiems" (did you mean "times"?)'],
    ['null', null, 'fail(): its options must be a plain object, got null.'],
  ])('refuses the fail options %s', (_label, options, message) => {
    expect(bad({ kind: 'omit-usage' }, options)).toThrow(message);
  });

  it('over-report-usage with factor NaN is refused instead of reporting NaN usage', () => {
    expect(bad({ kind: 'over-report-usage', factor: NaN })).toThrow(
      'fail(over-report-usage): factor must be a number from 1 to 1000000, got NaN.',
    );
  });

  it('keeps a validated copy: changing the fault object afterwards changes nothing', async () => {
    const fault = { kind: 'over-report-usage' as const, factor: 2 };
    server.fail(fault);
    fault.factor = NaN;
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [hi] });
    expect(completion.usage?.completion_tokens).toBe(20);
    expect(Number.isFinite(completion.usage?.prompt_tokens)).toBe(true);
  });

  it('a delay of 2^31 ms holds the response (Node would fire such a timer after 1 ms)', async () => {
    server.fail({ kind: 'delay', ms: 2 ** 31 });
    const error = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [hi] }, { timeout: 300 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await server.settled();
    expect(server.tally.requests).toBe(0);
  });
});

describe('ClientConnection.pause', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 3 * 2 ** 31 + 1])(
    'waits the whole %i ms, past the timer limit',
    async (ms) => {
      vi.useFakeTimers();
      const response = Object.assign(new EventEmitter(), {
        writableFinished: false,
        destroyed: false,
      });
      const connection = new ClientConnection(response as unknown as ServerResponse);
      let resolved: boolean | undefined;
      void connection.pause(ms).then((result) => (resolved = result));
      await vi.advanceTimersByTimeAsync(ms - 1);
      expect(resolved).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(resolved).toBe(true);
    },
  );
});

function integerIn(min: number, max: number) {
  return (value: unknown) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function nonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value !== '';
}

function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function cyclic(): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  value.self = value;
  return value;
}
