import { ChatAnthropic } from '@langchain/anthropic';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { BudgetExceededError } from '../../../lib/errors.js';
import { meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import {
  type FakeAnthropicServer,
  type FakeOpenAIServer,
  startFakeAnthropic,
  startFakeOpenAI,
} from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

const LIMIT = 300;
const CAPS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;

// @langchain/openai 1.6 needs Node >= 22.
describeOnNode(22, 'tokencap/langchain: output caps in pass-through kwargs are clamped too', () => {
  let openai: FakeOpenAIServer;
  let anthropic: FakeAnthropicServer;
  let ledger: Ledger;

  beforeAll(async () => {
    openai = await startFakeOpenAI({ replyTokens: 1_000, keepAlive: false });
    anthropic = await startFakeAnthropic({ replyTokens: 1_000, keepAlive: false });
  });
  afterAll(async () => {
    await openai.close();
    await anthropic.close();
  });
  beforeEach(async () => {
    await openai.settled();
    await anthropic.settled();
    openai.reset();
    anthropic.reset();
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
  });

  const viaOpenAI = (kwargs: Record<string, number>) =>
    new ChatOpenAI({
      model: 'gpt-4o-mini',
      apiKey: 'test',
      maxRetries: 0,
      configuration: { baseURL: openai.baseURL },
      modelKwargs: kwargs,
    });
  const viaAnthropic = (kwargs: Record<string, number>) =>
    new ChatAnthropic({
      model: 'claude-haiku-4-5',
      apiKey: 'test',
      maxRetries: 0,
      clientOptions: { baseURL: anthropic.baseURL },
      invocationKwargs: kwargs,
    });

  const cases: [
    string,
    () => { model: BaseChatModel; sent: () => Record<string, unknown>[] },
    boolean,
  ][] = [];
  for (const streaming of [false, true]) {
    for (const key of ['max_tokens', 'max_completion_tokens'] as const) {
      cases.push([
        `ChatOpenAI modelKwargs.${key}: 5000 (${streaming ? 'stream' : 'plain'})`,
        () => ({
          model: viaOpenAI({ [key]: 5_000 }),
          sent: () => openai.requests.map((r) => r.body as Record<string, unknown>),
        }),
        streaming,
      ]);
    }
    cases.push([
      `ChatAnthropic invocationKwargs.max_tokens: 5000 (${streaming ? 'stream' : 'plain'})`,
      () => ({
        model: viaAnthropic({ max_tokens: 5_000 }),
        sent: () => anthropic.requests.map((r) => r.body as Record<string, unknown>),
      }),
      streaming,
    ]);
  }

  it.each(cases)('%s: every cap sent is within the budget', async (_name, make, streaming) => {
    const { model: plain, sent } = make();
    const model = meterChatModel(plain);
    const budget = defineBudget({ scope: 'task', key: _name, limit: LIMIT });
    const error = await runWithBudgets(ledger, [budget], async () => {
      if (!streaming) return model.invoke('Write a long story.');
      for await (const _chunk of await model.stream('Write a long story.')) {
        // read to the end
      }
    }).catch((e: unknown) => e);
    // A stream cut short by the budget's cap ends its loop with the refusal; a plain call returns.
    if (streaming) expect(error).toBeInstanceOf(BudgetExceededError);
    else expect(error).not.toBeInstanceOf(Error);
    const [body] = sent();
    const caps = CAPS.filter((key) => key in body!).map((key) => body![key] as number);
    expect(caps.length).toBeGreaterThan(0);
    for (const cap of caps) expect(cap).toBeLessThan(LIMIT);
    const used = (await ledger.usage([budget]))[0]!.dimensions.tokens!.used;
    expect(used).toBeLessThanOrEqual(LIMIT);
  });
});

// ChatOpenAI drops a reasoning model's pass-through max_completion_tokens and sends its own
// maxTokens there (unset: no cap at all). Before the fix, o4-mini with max_completion_tokens 500
// under a 300-token hard stop left uncapped: billed 1,000 + prompt on the 300-token budget.
describeOnNode(
  22,
  'tokencap/langchain: a reasoning model with modelKwargs.max_completion_tokens',
  () => {
    let openai: FakeOpenAIServer;
    let ledger: Ledger;

    beforeAll(async () => {
      openai = await startFakeOpenAI({ replyTokens: 1_000, keepAlive: false });
    });
    afterAll(async () => {
      await openai.close();
    });
    beforeEach(async () => {
      await openai.settled();
      openai.reset();
      ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    });

    const cases: [string, boolean][] = [];
    for (const model of ['o4-mini', 'gpt-5', 'o3']) {
      for (const streaming of [false, true]) cases.push([model, streaming]);
    }

    it.each(cases)(
      '%s (stream: %s) is sent one max_completion_tokens within the budget',
      async (name, streaming) => {
        const model = meterChatModel(
          new ChatOpenAI({
            model: name,
            apiKey: 'test',
            maxRetries: 0,
            configuration: { baseURL: openai.baseURL },
            modelKwargs: { max_completion_tokens: 500 },
          }),
        );
        const budget = defineBudget({ scope: 'task', key: `${name}-${streaming}`, limit: LIMIT });
        await runWithBudgets(ledger, [budget], async () => {
          if (!streaming) return model.invoke('hi');
          for await (const _chunk of await model.stream('hi')) {
            // read to the end
          }
        }).catch((e: unknown) => e);
        expect(openai.requests).toHaveLength(1);
        const body = openai.requests[0]!.body as Record<string, unknown>;
        expect(body.max_tokens).toBeUndefined();
        // 300 minus the 8 prompt tokens of 'hi'.
        expect(body.max_completion_tokens).toBe(292);
        const billed = openai.tally.promptTokens + openai.tally.completionTokens;
        expect(billed).toBe(LIMIT);
        const used = (await ledger.usage([budget]))[0]!.dimensions.tokens!.used;
        expect(used).toBe(billed);
      },
    );
  },
);
