import type { LLM } from '@llamaindex/core/llms';
import { describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { runWithBudgets } from '../../../lib/core/budget-context.js';
import type { TokencapEvent } from '../../../lib/core/events.js';
import { Ledger } from '../../../lib/core/ledger.js';
import { MemoryLedgerStore } from '../../../lib/core/memory-ledger.store.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An LLM that is not the OpenAI LLM (no `session` whose request Tokencap can abort): its stream
 * yields one-token chunks every 2 ms while it is read, and says whether it was closed.
 */
function streamingLLM() {
  const state = { produced: 0, closed: false };
  const llm = {
    metadata: { model: 'gpt-4o-mini' },
    chat() {
      return Promise.resolve(
        (async function* () {
          try {
            for (let i = 0; i < 200; i++) {
              await sleep(2);
              state.produced++;
              yield { delta: ' word', raw: null };
            }
          } finally {
            state.closed = true;
          }
        })(),
      );
    },
  };
  return { llm: meterLLM(llm as unknown as LLM), state };
}

describe('meterLLM streams of an LLM whose request cannot be aborted', () => {
  it('a slow reader leaving early is charged every chunk that came, and the stream is closed at the next', async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    const events: TokencapEvent[] = [];
    ledger.events$.subscribe((e) => events.push(e));
    const { llm, state } = streamingLLM();
    const budget = defineBudget({ scope: 'task', key: 'custom', limit: 10_000 });
    let read = 0;
    await runWithBudgets(ledger, [budget], async () => {
      const stream = await llm.chat({
        messages: [{ role: 'user', content: 'Tell me a story.' }],
        stream: true,
      });
      for await (const _chunk of stream) {
        await sleep(50);
        if (++read === 2) break;
      }
    });
    // Left after about 100 ms: the chunks that came meanwhile were read and charged, not the 2
    // the loop saw (before the fix: output 2), and the LLM's stream was closed soon after.
    expect(read).toBe(2);
    expect(state.closed).toBe(true);
    expect(state.produced).toBeGreaterThan(10);
    expect(state.produced).toBeLessThan(200);
    const usage = events.filter((e) => e.type === 'usage');
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({
      details: { outputTokens: state.produced, source: 'estimate' },
    });
    const [now] = await ledger.usage([budget]);
    expect(now!.dimensions.tokens).toMatchObject({ reserved: 0 });
    await ledger.close();
  });
});
