import { FakeListChatModel } from '@langchain/core/utils/testing';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { TokenCounter } from '../../../lib/counting/token.counter.js';
import { TokencapConfigError } from '../../../lib/errors.js';
import {
  budgetMiddleware as aiSdkMiddleware,
  budgetNearlySpent,
} from '../../../lib/frameworks/ai-sdk/index.js';
import {
  budgetMiddleware as langChainMiddleware,
  meterChatModel,
} from '../../../lib/frameworks/langchain/index.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';
import { ModelCatalog } from '../../../lib/models/model.catalog.js';
import { wrapAnthropic } from '../../../lib/providers/anthropic/index.js';
import { wrapOpenAI } from '../../../lib/providers/openai/wrap-openai.js';
import { RedisEventRelay, RedisLedgerStore } from '../../../lib/redis/index.js';
import { ApiBudgetResponses } from '../../../lib/swagger/index.js';
import { startFakeAnthropic, startFakeOpenAI } from '../../../lib/testing/index.js';
import { instrumentTokencap } from '../../../lib/otel/index.js';

// Every public options object refuses a key it does not know, naming it: a misspelt option
// (`{ chanel }`, `{ outsideBudgt }`) would otherwise leave the one meant at its default, silently.
const TYPO = 'outsideBudgt';

// Never connected: the constructors only read the client's shape.
const client = new Redis({ lazyConnect: true });
afterAll(() => client.disconnect());

const openai = () => new OpenAI({ apiKey: 'test', baseURL: 'http://127.0.0.1:9' });
const anthropic = () => new Anthropic({ apiKey: 'test', baseURL: 'http://127.0.0.1:9' });
const capped = () => Object.assign(new FakeListChatModel({ responses: ['hi'] }), { maxTokens: 10 });
const llm = () => ({ chat: async () => ({}), metadata: { model: 'gpt-4o-mini' } });

/** Each entry point with `{ [TYPO]: true }` among otherwise valid options. */
const ENTRY_POINTS: [string, (extra: Record<string, unknown>) => unknown][] = [
  ['Ledger', (x) => new Ledger({ ...x } as never)],
  ['MemoryLedgerStore', (x) => new MemoryLedgerStore({ sweepInterval: false, ...x } as never)],
  ['RedisLedgerStore', (x) => new RedisLedgerStore({ client, ...x } as never)],
  ['RedisEventRelay', (x) => new RedisEventRelay({ publisher: client, ...x } as never)],
  ['wrapOpenAI', (x) => wrapOpenAI(openai(), { ...x } as never)],
  ['wrapAnthropic', (x) => wrapAnthropic(anthropic(), { ...x } as never)],
  ['meterChatModel', (x) => meterChatModel(capped(), { ...x } as never)],
  ['budgetMiddleware', (x) => langChainMiddleware({ ...x } as never)],
  ['meterLLM', (x) => meterLLM(llm() as never, { ...x } as never)],
  ['budgetMiddleware', (x) => aiSdkMiddleware({ ...x } as never)],
  ['budgetNearlySpent', (x) => budgetNearlySpent({ ...x } as never)],
  ['TokenCounter', (x) => new TokenCounter({ ...x } as never)],
  ['ModelCatalog', (x) => new ModelCatalog({ ...x } as never)],
  ['@ApiBudgetResponses()', (x) => ApiBudgetResponses({ ...x } as never)],
  ['instrumentTokencap', (x) => instrumentTokencap({ ...x } as never)],
  ['budget', (x) => defineBudget({ scope: 's', key: 'k', limit: 1, ...x } as never)],
];

describe('every public options object refuses an unknown key, naming it', () => {
  it.each(ENTRY_POINTS)('%s', (where, make) => {
    let thrown: unknown;
    try {
      make({ [TYPO]: true });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TokencapConfigError);
    expect((thrown as Error).message).toContain(`"${TYPO}"`);
    expect((thrown as Error).message).toContain(where);
  });

  it('and accepts the same options without it', () => {
    for (const [where, make] of ENTRY_POINTS) {
      if (where === 'instrumentTokencap') continue; // needs a meter provider and a ledger
      expect(() => make({}), where).not.toThrow();
    }
  });

  it.each([
    ['startFakeOpenAI', () => startFakeOpenAI({ [TYPO]: true } as never)],
    ['startFakeAnthropic', () => startFakeAnthropic({ [TYPO]: true } as never)],
  ])('%s (the testing kit)', async (_where, start) => {
    await expect(start()).rejects.toThrow(TYPO);
  });
});
