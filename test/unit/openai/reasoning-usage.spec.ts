import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  defineBudget,
  Ledger,
  MemoryLedgerStore,
  runWithBudgets,
  type TokencapEvent,
  wrapOpenAI,
} from '../../../lib/engine/index.js';
import {
  type ReasoningProvider,
  type ReasoningProviderOptions,
  startReasoningProvider,
} from './support/reasoning-provider.fixture.js';

// Issue 11 item 7: a reasoning model bills hidden reasoning tokens before its first visible byte.
// When the provider's usage for a call never arrives (the caller left the stream, or a compatible
// server sends none), the call is charged what it may have cost, so the budget still bounds what
// the provider bills. Run against a provider written for this test (support/), not the kit's fake.

const MODEL = 'o4-mini';
const MESSAGES = [{ role: 'user' as const, content: 'Think, then say hello.' }];
let seq = 0;

describe('reasoning models whose usage never arrives', () => {
  let provider: ReasoningProvider | undefined;
  let ledger: Ledger;
  const events: TokencapEvent[] = [];

  const start = async (options: ReasoningProviderOptions) => {
    provider = await startReasoningProvider(options);
    ledger = new Ledger({ store: new MemoryLedgerStore({ sweepInterval: false }) });
    events.length = 0;
    ledger.events$.subscribe((e) => events.push(e));
    const client = wrapOpenAI(
      new OpenAI({ apiKey: 'test', baseURL: provider.baseURL, maxRetries: 0 }),
    );
    return { client, provider };
  };
  afterEach(async () => {
    await provider?.close();
    await ledger?.close();
  });
  const used = async (b: ReturnType<typeof defineBudget>) =>
    (await ledger.usage([b]))[0].dimensions.tokens;

  it.each(['chat', 'responses'] as const)(
    '%s: ten streams left after their first visible token never bill past a 1,000-token hard stop',
    async (endpoint) => {
      const { client, provider } = await start({ reasoning: 200, visible: 50 });
      const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 1_000 });
      const outcomes: string[] = [];
      for (let i = 0; i < 10; i++) {
        const outcome = await runWithBudgets(ledger, [b], async () => {
          const stream =
            endpoint === 'chat'
              ? await client.chat.completions.create({
                  model: MODEL,
                  messages: MESSAGES,
                  stream: true,
                })
              : await client.responses.create({
                  model: MODEL,
                  input: MESSAGES[0].content,
                  stream: true,
                });
          for await (const _ of stream as AsyncIterable<unknown>) break; // leaves after one token
          return 'left early';
        }).catch((error: unknown) =>
          error instanceof BudgetExceededError ? 'refused' : String(error),
        );
        outcomes.push(outcome);
      }
      await provider.settled();
      const tokens = await used(b);
      // The first stream is charged all it held (its whole reservation, the 1,000 tokens), so
      // the budget refuses the other nine before they reach the provider.
      expect(outcomes).toEqual(['left early', ...Array(9).fill('refused')]);
      expect(provider.requests).toHaveLength(1);
      expect(provider.billed).toBeGreaterThan(200);
      expect(provider.billed).toBeLessThanOrEqual(1_000);
      expect(tokens).toMatchObject({ used: 1_000, reserved: 0 });
      const usage = events.filter((e) => e.type === 'usage');
      expect(usage).toHaveLength(1);
      expect(usage[0]).toMatchObject({ details: { model: MODEL, source: 'estimate' } });
    },
  );

  it('charges each stream its reservation under maxReservation, so the charge covers every bill', async () => {
    const { client, provider } = await start({ reasoning: 200, visible: 50 });
    const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 1_000, maxReservation: 300 });
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      await runWithBudgets(ledger, [b], async () => {
        const stream = await client.chat.completions.create({
          model: MODEL,
          messages: MESSAGES,
          stream: true,
        });
        sent += 1;
        for await (const _ of stream) break;
      }).catch(() => {});
    }
    await provider.settled();
    const { used: charged } = (await used(b))!;
    expect(sent).toBe(provider.requests.length);
    // maxReservation caps each call at 300 output tokens; the last one gets what is left.
    const caps = provider.requests.map((r) => r.max_completion_tokens as number);
    expect(caps.slice(0, 3)).toEqual([300, 300, 300]);
    expect(Math.max(...caps)).toBe(300);
    expect(provider.billed).toBeLessThanOrEqual(1_000);
    expect(charged).toBeGreaterThanOrEqual(provider.billed);
    expect(charged).toBeLessThanOrEqual(1_000);
  });

  it('charges a plain call whose reply has no usage its whole reservation, not the text seen', async () => {
    const { client, provider } = await start({ reasoning: 100, visible: 30, omitUsage: true });
    const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 10_000 });
    await runWithBudgets(ledger, [b], () =>
      client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        max_completion_tokens: 500,
      }),
    );
    await provider.settled();
    const prompt = (provider.billed - 130) as number;
    // Billed: prompt + 100 hidden + 30 visible. Charged: prompt + the 500 output tokens reserved.
    expect(await used(b)).toMatchObject({ used: prompt + 500, reserved: 0 });
    expect(events.find((e) => e.type === 'usage')).toMatchObject({
      details: { inputTokens: prompt, outputTokens: 500, source: 'estimate' },
    });
  });

  it('still charges the visible count of a model that bills no hidden reasoning', async () => {
    const { client, provider } = await start({ reasoning: 0, visible: 30, omitUsage: true });
    const b = defineBudget({ scope: 'user', key: `u${++seq}`, limit: 10_000 });
    await runWithBudgets(ledger, [b], () =>
      client.chat.completions.create({
        model: 'gpt-4o',
        messages: MESSAGES,
        max_completion_tokens: 500,
      }),
    );
    await provider.settled();
    expect(await used(b)).toMatchObject({ used: provider.billed, reserved: 0 });
  });
});
