import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../../lib/testing/index.js';
import { describeOnNode } from '../../support/node-version.js';

const SNAPSHOT = 'gpt-4o-mini-2024-07-18';

// @langchain/openai 1.6 needs Node >= 22.
describeOnNode(22, 'tokencap/langchain: a streamed usage event names the answering model', () => {
  let server: FakeOpenAIServer;

  beforeAll(async () => {
    server = await startFakeOpenAI({
      replyTokens: 20,
      keepAlive: false,
      modelSnapshots: { 'gpt-4o-mini': SNAPSHOT },
    });
  });
  afterAll(() => server.close());

  it('stream: the usage event carries the model the response names, not the one requested', async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const model = meterChatModel(
      new ChatOpenAI({
        model: 'gpt-4o-mini',
        apiKey: 'test',
        maxRetries: 0,
        configuration: { baseURL: server.baseURL },
      }),
    );
    const budget = defineBudget({ scope: 'task', key: 'stream-model', limit: 10_000 });
    await runWithBudgets(ledger, [budget], async () => {
      for await (const _chunk of await model.stream('Say hello.')) {
        // read to the end
      }
    });
    const usage = events.filter((e) => e.type === 'usage');
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ details: { model: SNAPSHOT, outputTokens: 20 } });
  });
});
