import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  countTokens,
  defineBudget,
  Ledger,
  MemoryLedgerStore,
  runWithBudgets,
  wrapOpenAI,
} from '../../../lib/engine/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import {
  chatTool,
  nestedObjectSchema,
  prose,
  PYDANTIC_SCHEMA,
  ZOD_SCHEMA,
} from './schema-corpus.fixture.js';
import { renderFunctions } from './schema-reference.fixture.js';

// The scenario of the report: tools whose text sits under $defs / anyOf, or 12 levels deep, sent
// under a 1,000-token and a 500-token hard-stop budget. The prompt alone is over 1,000 tokens by
// an independent count, so both budgets must refuse before anything reaches the provider.

const MODEL = 'gpt-4o';
const messages = [{ role: 'user' as const, content: 'Book it for tomorrow.' }];
const fns = [
  { name: 'create_order', description: prose(60, 2), parameters: PYDANTIC_SCHEMA },
  { name: 'schedule_event', description: prose(61, 2), parameters: ZOD_SCHEMA },
];
const schemaTools = fns.map((fn) => chatTool(fn.name, fn.description, fn.parameters));
const deepFn = { name: 'configure', description: prose(70, 1), parameters: nestedObjectSchema(12) };
const deepTool = chatTool(deepFn.name, deepFn.description, deepFn.parameters);

let server: FakeOpenAIServer;
let ledger: Ledger;
let client: OpenAI;
let seq = 0;

beforeAll(async () => {
  server = await startFakeOpenAI({ keepAlive: false });
  client = wrapOpenAI(new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 }));
});
afterEach(async () => {
  await server.settled();
  server.reset();
  await ledger?.close();
});
afterAll(async () => {
  await server.close();
});

function within<T>(limit: number, fn: () => Promise<T>): Promise<T> {
  ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  const budget = defineBudget({ scope: 'schema', key: `k${++seq}`, limit });
  return runWithBudgets(ledger, [budget], fn);
}

describe('a hard-stop budget refuses a call whose schemas alone exceed it', () => {
  it('independent counts put each request over 1,000 prompt tokens', () => {
    expect(countTokens(renderFunctions(fns), MODEL)).toBeGreaterThan(1000);
    expect(countTokens(renderFunctions([deepFn]), MODEL)).toBeGreaterThan(1000);
    expect(countTokens(JSON.stringify(PYDANTIC_SCHEMA), MODEL)).toBeGreaterThan(1000);
  });

  it.each([1000, 500])('chat tools under $defs / anyOf: %i-token budget', async (limit) => {
    const call = within(limit, () =>
      client.chat.completions.create({ model: MODEL, messages, tools: schemaTools }),
    );
    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(call).rejects.toMatchObject({ limit, requested: expect.any(Number) as number });
    expect(
      ((await call.catch((e: unknown) => e)) as BudgetExceededError).requested,
    ).toBeGreaterThan(1000);
    expect(server.requests).toHaveLength(0);
  });

  it.each([1000, 500])('a 12-level object: %i-token budget', async (limit) => {
    const call = within(limit, () =>
      client.chat.completions.create({ model: MODEL, messages, tools: [deepTool] }),
    );
    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it.each([1000, 500])('Responses flat tools: %i-token budget', async (limit) => {
    const tools = fns.map((fn) => ({ type: 'function' as const, ...fn, strict: false }));
    const call = within(limit, () =>
      client.responses.create({ model: MODEL, input: 'Book it for tomorrow.', tools }),
    );
    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it.each([1000, 500])('a chat response_format schema: %i-token budget', async (limit) => {
    const call = within(limit, () =>
      client.chat.completions.create({
        model: MODEL,
        messages,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'order', schema: PYDANTIC_SCHEMA, strict: false },
        },
      }),
    );
    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it.each([1000, 500])('a Responses text.format schema: %i-token budget', async (limit) => {
    const call = within(limit, () =>
      client.responses.create({
        model: MODEL,
        input: 'Book it for tomorrow.',
        text: {
          format: { type: 'json_schema', name: 'order', schema: PYDANTIC_SCHEMA, strict: false },
        },
      }),
    );
    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it('the same call goes through a budget that holds it, and the provider bills the schemas', async () => {
    const completion = await within(20_000, () =>
      client.chat.completions.create({ model: MODEL, messages, tools: schemaTools }),
    );
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(
      countTokens(renderFunctions(fns), MODEL),
    );
    expect(server.requests).toHaveLength(1);
  });
});
