import fc from 'fast-check';
import OpenAI, { type APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  type FakeOpenAIServer,
  REPLY_TOKENS_HEADER,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';

// The fake refuses what the real API refuses, with the real API's 400: a Responses
// `max_output_tokens` below 16, a chat cap below 1, a cap that is not an integer. A wrapper
// that sends such a request must see it fail here as it would in production.

let server: FakeOpenAIServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startFakeOpenAI({ replyTokens: 40 });
  client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(async () => {
  await server.settled();
  server.reset();
});
afterAll(() => server.close());

const messages = [{ role: 'user' as const, content: 'Hi' }];

async function rejection(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  return error as APIError;
}

const belowMin = (field: string, min: number, got: number) => ({
  status: 400,
  type: 'invalid_request_error',
  param: field,
  code: 'integer_below_min_value',
  message: `400 Invalid '${field}': integer below minimum value. Expected a value >= ${min}, but got ${got} instead.`,
});
const wrongType = (field: string, got: string) => ({
  status: 400,
  type: 'invalid_request_error',
  param: field,
  code: 'invalid_type',
  message: `400 Invalid type for '${field}': expected an integer, but got ${got} instead.`,
});

describe('Responses max_output_tokens: at least 16, as the API enforces', () => {
  it.each([15, 8, 1, 0, -5])('refuses %i with the API’s 400, billing nothing', async (cap) => {
    for (const stream of [false, true]) {
      const error = await rejection(
        client.responses.create({ model: 'gpt-4o', input: 'Hi', max_output_tokens: cap, stream }),
      );
      expect(error).toMatchObject(belowMin('max_output_tokens', 16, cap));
    }
    expect(server.tally.requests).toBe(0);
  });

  it('accepts 16 and caps the reply there', async () => {
    const response = await client.responses.create({
      model: 'gpt-4o',
      input: 'Hi',
      max_output_tokens: 16,
    });
    expect(response.status).toBe('incomplete');
    expect(response.usage?.output_tokens).toBe(16);
  });

  it('a reasoning model may spend all 16 on reasoning, as the API allows', async () => {
    const response = await client.responses.create({
      model: 'o4-mini',
      input: 'Hi',
      max_output_tokens: 16,
    });
    expect(response.usage?.output_tokens).toBe(16);
    expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(16);
  });
});

describe('chat max_completion_tokens / max_tokens: at least 1', () => {
  it.each([
    ['max_completion_tokens', 0],
    ['max_completion_tokens', -1],
    ['max_tokens', 0],
    ['max_tokens', -100],
  ])('refuses %s: %i', async (field, cap) => {
    const error = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, [field]: cap }),
    );
    expect(error).toMatchObject(belowMin(field, 1, cap));
    expect(server.tally.requests).toBe(0);
  });

  it('checks every cap field given, not only the one it uses', async () => {
    const error = await rejection(
      client.chat.completions.create({
        model: 'gpt-4o',
        messages,
        max_tokens: 5,
        max_completion_tokens: 0,
      }),
    );
    expect(error).toMatchObject(belowMin('max_completion_tokens', 1, 0));
  });

  it.each(['gpt-4o-mini', 'o4-mini'])(
    'refuses max_tokens and max_completion_tokens together, as the API does (%s), billing nothing',
    async (model) => {
      const error = await rejection(
        client.chat.completions.create({
          model,
          messages,
          max_tokens: 50,
          max_completion_tokens: 50,
        }),
      );
      expect(error).toMatchObject({
        status: 400,
        type: 'invalid_request_error',
        param: 'max_tokens',
        code: 'invalid_parameter_combination',
        message:
          "400 Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
      });
      expect(server.tally.requests).toBe(0);
      // Either one alone, or one beside a null, is answered.
      for (const caps of [
        { max_tokens: 5 },
        { max_completion_tokens: 5 },
        { max_tokens: null, max_completion_tokens: 5 },
      ]) {
        const reply = await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages,
          ...caps,
        });
        expect(reply.usage?.completion_tokens).toBe(5);
      }
    },
  );

  it('accepts 1, and null as absent', async () => {
    const one = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      max_completion_tokens: 1,
    });
    expect(one.usage?.completion_tokens).toBe(1);
    const none = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      max_tokens: null,
    });
    expect(none.usage?.completion_tokens).toBe(40);
  });
});

describe('caps that are not integers are refused as the API refuses them', () => {
  const cases: Array<[unknown, string]> = [
    [1.5, 'a decimal number'],
    [16.25, 'a decimal number'],
    ['32', 'a string'],
    [true, 'a boolean'],
    [{ value: 32 }, 'an object'],
    [[32], 'an array'],
  ];

  it.each(cases)('%j', async (cap, got) => {
    const responses = await rejection(
      client.responses.create({ model: 'gpt-4o', input: 'Hi', max_output_tokens: cap as number }),
    );
    expect(responses).toMatchObject(wrongType('max_output_tokens', got));
    for (const field of ['max_completion_tokens', 'max_tokens']) {
      const chat = await rejection(
        client.chat.completions.create({ model: 'gpt-4o', messages, [field]: cap as number }),
      );
      expect(chat).toMatchObject(wrongType(field, got));
    }
    expect(server.tally.requests).toBe(0);
  });

  it('any JSON value: answered iff it is an integer in range, else the matching 400 (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (cap) => {
        const response = await fetch(`${server.baseURL}/responses`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [REPLY_TOKENS_HEADER]: '1' },
          body: JSON.stringify({ model: 'gpt-4o', input: 'Hi', max_output_tokens: cap }),
        });
        const body = (await response.json()) as { error?: { code: string; param: string } };
        const integer = Number.isInteger(cap);
        if (cap === null || (integer && (cap as number) >= 16 && Number.isSafeInteger(cap))) {
          expect(response.status).toBe(200);
        } else {
          expect(response.status).toBe(400);
          expect(body.error?.param).toBe('max_output_tokens');
          const code = !integer
            ? 'invalid_type'
            : (cap as number) < 16
              ? 'integer_below_min_value'
              : 'integer_above_max_value';
          expect(body.error?.code).toBe(code);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('n and embedding dimensions use the same rules', () => {
  it.each([
    [0, 'integer_below_min_value'],
    [129, 'integer_above_max_value'],
    [1.5, 'invalid_type'],
    ['2', 'invalid_type'],
  ])('n: %j', async (n, code) => {
    const error = await rejection(
      client.chat.completions.create({ model: 'gpt-4o', messages, n: n as number }),
    );
    expect(error).toMatchObject({ param: 'n', code });
  });

  it.each([
    [0, 'integer_below_min_value'],
    [4097, 'integer_above_max_value'],
    [2.5, 'invalid_type'],
  ])('dimensions: %j', async (dimensions, code) => {
    const error = await rejection(
      client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', dimensions }),
    );
    expect(error).toMatchObject({ param: 'dimensions', code });
  });

  it('the reply-length header is bounded like the option', async () => {
    const error = await rejection(
      client.chat.completions.create(
        { model: 'gpt-4o', messages },
        { headers: { [REPLY_TOKENS_HEADER]: '1000001' } },
      ),
    );
    expect(error.message).toContain(
      `Header ${REPLY_TOKENS_HEADER} must be an integer from 0 to 1000000`,
    );
  });
});

describe('model names that are Object.prototype keys', () => {
  const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

  it.each(names)('%s is echoed and billed under its own name', async (model) => {
    const chat = await client.chat.completions.create({ model, messages });
    expect(chat.model).toBe(model);
    const response = await client.responses.create({ model, input: 'Hi', max_output_tokens: 16 });
    expect(response.model).toBe(model);
    const embedding = await client.embeddings.create({ model, input: 'x' });
    expect(embedding.model).toBe(model);
    const tally = server.tally;
    expect(Object.keys(tally.byModel)).toEqual([model]);
    expect(tally.byModel[model].requests).toBe(3);
  });

  it('byModel has no inherited entries for models never billed', () => {
    const { byModel } = server.tally;
    for (const name of names) expect(byModel[name]).toBeUndefined();
  });

  it('modelSnapshots read own keys only, __proto__ included', async () => {
    const snapshots = JSON.parse(
      '{"__proto__": "proto-2024", "gpt-4o": "gpt-4o-2024-08-06"}',
    ) as Record<string, string>;
    const pinned = await startFakeOpenAI({ modelSnapshots: snapshots });
    try {
      const pinnedClient = new OpenAI({ apiKey: 'test', baseURL: pinned.baseURL, maxRetries: 0 });
      const ask = async (model: string) =>
        (await pinnedClient.chat.completions.create({ model, messages })).model;
      expect(await ask('__proto__')).toBe('proto-2024');
      expect(await ask('gpt-4o')).toBe('gpt-4o-2024-08-06');
      expect(await ask('constructor')).toBe('constructor');
      expect(await ask('toString')).toBe('toString');
    } finally {
      await pinned.close();
    }
  });
});
