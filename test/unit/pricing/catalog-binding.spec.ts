import { Test } from '@nestjs/testing';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindModelCatalog,
  defineBudget,
  Ledger,
  ModelCatalog,
  runWithBudgets,
} from '../../../lib/engine/index.js';
import { BudgetService, TokencapModule, wrapOpenAI } from '../../../lib/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';

// The catalog an app prices and caps calls with is configured per app: the Nest module's
// `prices`/`defaultPrice`, or bindModelCatalog on a Ledger; a wrapper's modelOutputLimits extend
// whichever catalog the charging ledger has.

const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];

describe('a per-app model catalog', () => {
  let server: FakeOpenAIServer;
  const client = (options = {}) =>
    wrapOpenAI(new OpenAI({ apiKey: 't', baseURL: server.baseURL, maxRetries: 0 }), options);
  beforeAll(async () => {
    server = await startFakeOpenAI({ keepAlive: false, replyTokens: 5 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('prices calls with the Nest module’s prices and defaultPrice', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TokencapModule.forRoot({
          prices: { 'gpt-4o': { input: 1, output: 1 } },
          defaultPrice: { input: 2, output: 2 },
        }),
      ],
    }).compile();
    await moduleRef.init();
    try {
      const budgets = moduleRef.get(BudgetService);
      const openai = client();
      const def = { scope: 'user', key: 'a', limit: { usd: 1 } };
      const ask = (model: string) =>
        budgets.run(def, () =>
          openai.chat.completions.create({ model, messages: MESSAGES, max_tokens: 5 }),
        );
      await ask('gpt-4o-2024-08-06');
      const [first] = await budgets.ledger.usage([defineBudget(def)]);
      // 10 prompt + 5 output tokens at $1 per 1M: 15 micro-dollars.
      expect(first.dimensions.usd?.used).toBe(0.000015);
      await ask('llama-3-70b'); // unknown: the module's defaultPrice
      const [after] = await budgets.ledger.usage([defineBudget(def)]);
      expect(after.dimensions.usd?.used).toBeGreaterThan(0.000015);
      // Another app in the same process keeps the shipped prices.
      const other = new Ledger();
      await runWithBudgets(other, [defineBudget(def)], () =>
        openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 5 }),
      );
      // 10 × 2.5 + 5 × 10 = 75 micro-dollars at the shipped gpt-4o price.
      expect((await other.usage([defineBudget(def)]))[0].dimensions.usd?.used).toBe(0.000075);
      await other.close();
    } finally {
      await moduleRef.close();
      server.reset();
    }
  });

  it('extends the ledger’s catalog with a wrapper’s modelOutputLimits', async () => {
    const ledger = new Ledger();
    bindModelCatalog(ledger, new ModelCatalog({ prices: { 'llama-3': { input: 1, output: 1 } } }));
    const openai = client({ modelOutputLimits: { 'llama-3': 1_000 } });
    await runWithBudgets(
      ledger,
      [defineBudget({ scope: 'user', key: 'b', limit: { usd: 1, tokens: 100_000 } })],
      () => openai.chat.completions.create({ model: 'llama-3-70b', messages: MESSAGES }),
    );
    expect(server.requests[0].body).toMatchObject({ max_completion_tokens: 1_000 });
    await ledger.close();
    server.reset();
  });

  it('refuses something that is not a catalog', () => {
    expect(() => bindModelCatalog(new Ledger(), { prices: {} } as never)).toThrow(
      'bindModelCatalog: expected a ModelCatalog',
    );
  });
});
