import type Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { bindModelCatalog } from '../../../lib/models/catalog.binding.js';
import { ModelCatalog } from '../../../lib/models/model.catalog.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { budget, drain, MODEL, usageEvents, useHarness } from './anthropic-wrapper.fixture.js';

// claude-sonnet-4-5 list prices, USD per 1M tokens (= micro-dollars per token).
const SONNET = { input: 3, cacheWrite5m: 3.75, cacheWrite1h: 6, cachedInput: 0.3, output: 15 };

const SYSTEM_TEXT =
  'You answer questions about the quarterly report precisely and briefly. '.repeat(120);
const DOC_TEXT =
  'Revenue grew twelve percent while churn fell to three point four percent. '.repeat(120);

function cachedRequest(question: string) {
  return {
    model: MODEL,
    max_tokens: 100,
    system: [
      {
        type: 'text' as const,
        text: SYSTEM_TEXT,
        cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
      },
    ],
    messages: [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: DOC_TEXT, cache_control: { type: 'ephemeral' as const } },
          { type: 'text' as const, text: question },
        ],
      },
    ],
  };
}

/** What Anthropic's usage costs at `rates`, in whole micro-dollars rounded up once (the catalog's rule). */
function micros(usage: Anthropic.Usage, rates = SONNET): number {
  const exact =
    usage.input_tokens * rates.input +
    (usage.cache_read_input_tokens ?? 0) * rates.cachedInput +
    (usage.cache_creation?.ephemeral_5m_input_tokens ?? 0) * rates.cacheWrite5m +
    (usage.cache_creation?.ephemeral_1h_input_tokens ?? 0) * rates.cacheWrite1h +
    usage.output_tokens * rates.output;
  return Math.ceil(exact - 1e-9);
}

describe('wrapAnthropic: cache reads and writes priced to the micro-dollar', () => {
  const h = useHarness({ replyTokens: 20 }, { serverPerTest: true });

  async function usedMicros(b: ReturnType<typeof budget>): Promise<number> {
    const { used, reserved } = await h.used(b, 'usd');
    expect(reserved).toBe(0);
    return Math.round(used * 1e6);
  }

  it('prices 1-hour writes, 5-minute writes, reads and uncached input each at its rate', async () => {
    const b = budget({ usd: 10 });
    const client = h.client();
    const first = await h.within(b, () => client.messages.create(cachedRequest('What grew?')));
    const w1h = first.usage.cache_creation?.ephemeral_1h_input_tokens ?? 0;
    const w5m = first.usage.cache_creation?.ephemeral_5m_input_tokens ?? 0;
    expect(w1h).toBeGreaterThan(1024);
    expect(w5m).toBeGreaterThan(1024);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(await usedMicros(b)).toBe(micros(first.usage));

    const second = await h.within(b, () => client.messages.create(cachedRequest('What fell?')));
    expect(second.usage.cache_read_input_tokens).toBe(w1h + w5m);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(await usedMicros(b)).toBe(micros(first.usage) + micros(second.usage));

    const [, secondEvent] = usageEvents(h.events, b);
    expect(secondEvent.details).toMatchObject({
      inputTokens: second.usage.input_tokens + w1h + w5m,
      cachedInputTokens: w1h + w5m,
      cacheWrite5mTokens: 0,
      cacheWrite1hTokens: 0,
      outputTokens: 20,
      source: 'provider',
    });
  });

  it('prices a stream the same, from message_start and message_delta', async () => {
    const b = budget({ usd: 10 });
    const client = h.client();
    const events = await h.within(b, async () =>
      drain(await client.messages.create({ ...cachedRequest('What grew?'), stream: true })),
    );
    const start = events[0] as Anthropic.RawMessageStartEvent;
    const delta = events.find((e) => e.type === 'message_delta') as Anthropic.RawMessageDeltaEvent;
    const usage = { ...start.message.usage, output_tokens: delta.usage.output_tokens };
    expect(usage.cache_creation?.ephemeral_1h_input_tokens).toBeGreaterThan(0);
    expect(await usedMicros(b)).toBe(micros(usage));
  });

  it('uses the prices of the catalog bound to the ledger', async () => {
    const rates = { input: 1, cacheWrite5m: 2, cacheWrite1h: 4, cachedInput: 0.5, output: 8 };
    bindModelCatalog(h.ledger, new ModelCatalog({ prices: { [MODEL]: rates } }));
    const b = budget({ usd: 10 });
    const client = h.client();
    const first = await h.within(b, () => client.messages.create(cachedRequest('Why?')));
    expect(await usedMicros(b)).toBe(micros(first.usage, rates));
  });

  it('reserves dollars for the prompt at the cache-write rates its breakpoints allow', () => {
    const body = cachedRequest('What grew?');
    const count = estimateMessagesInput(body, MODEL);
    expect(count.cacheWrite1hTokens).toBeGreaterThan(0);
    expect(count.cacheWrite5mTokens).toBeGreaterThan(0);
    expect(count.cacheWrite1hTokens! + count.cacheWrite5mTokens!).toBeLessThan(count.inputTokens);
    const automatic = estimateMessagesInput(
      {
        model: MODEL,
        max_tokens: 10,
        cache_control: { type: 'ephemeral', ttl: '1h' },
        messages: [{ role: 'user', content: 'hi' }],
      },
      MODEL,
    );
    expect(automatic.cacheWrite1hTokens).toBeGreaterThan(0);
    expect(automatic.cacheWrite5mTokens).toBeUndefined();
  });

  it('a usd budget that covers the prompt at the input rate but not at the 1-hour write rate refuses it', async () => {
    const body = cachedRequest('What grew?');
    const count = estimateMessagesInput(body, MODEL);
    const atInputRate = (count.inputTokens * SONNET.input + 100 * SONNET.output) / 1e6;
    const b = budget({ usd: atInputRate });
    const client = h.client();
    await expect(h.within(b, () => client.messages.create(body))).rejects.toMatchObject({
      name: 'BudgetExceededError',
      dimension: 'usd',
    });
    expect(h.server.requests).toEqual([]);
  });

  describe('a breakpoint nested in a block', () => {
    const toolRound = (nested: Record<string, unknown>) => ({
      model: MODEL,
      max_tokens: 100,
      tools: [
        {
          name: 'fetch_report',
          description: 'Fetches the report.',
          input_schema: { type: 'object' as const, properties: {} },
        },
      ],
      messages: [
        { role: 'user' as const, content: 'Summarise the report.' },
        {
          role: 'assistant' as const,
          content: [{ type: 'tool_use' as const, id: 'toolu_1', name: 'fetch_report', input: {} }],
        },
        {
          role: 'user' as const,
          content: [
            { type: 'tool_result' as const, tool_use_id: 'toolu_1', content: [nested] },
          ] as unknown as Anthropic.ContentBlockParam[],
        },
      ],
    });
    const text = {
      type: 'text',
      text: DOC_TEXT,
      cache_control: { type: 'ephemeral', ttl: '1h' },
    };
    const search = {
      type: 'search_result',
      source: 'https://example.com/report',
      title: 'Report',
      content: [{ type: 'text', text: DOC_TEXT, cache_control: { type: 'ephemeral', ttl: '1h' } }],
    };
    const document = {
      type: 'document',
      source: { type: 'content', content: [text] },
    };

    it('reserves the prefix at the 1-hour write rate, inside tool_result, search_result and document content', () => {
      for (const nested of [text, search, document]) {
        const count = estimateMessagesInput(toolRound(nested), MODEL);
        expect(count.cacheWrite1hTokens).toBe(count.inputTokens - 4);
      }
    });

    it('the fake bills it as a 1-hour write', async () => {
      const message = await h.raw().messages.create(toolRound(text));
      expect(message.usage.cache_creation?.ephemeral_1h_input_tokens).toBeGreaterThan(1000);
    });

    for (const counting of ['estimate', 'api'] as const) {
      it(`a usd budget that holds the prompt at the input rate, not at the 1-hour rate, refuses it (${counting})`, async () => {
        const body = toolRound(text);
        const count = estimateMessagesInput(body, MODEL);
        const b = budget({ usd: (count.inputTokens * SONNET.input + 100 * SONNET.output) / 1e6 });
        const client = h.client({ counting });
        await expect(h.within(b, () => client.messages.create(body))).rejects.toMatchObject({
          name: 'BudgetExceededError',
          dimension: 'usd',
        });
        expect(h.server.requests.filter((r) => r.path === '/v1/messages')).toEqual([]);
        expect(await h.used(b, 'usd')).toEqual({ used: 0, reserved: 0 });
      });

      it(`a usd budget that holds it is charged the fake's bill to the micro-dollar (${counting})`, async () => {
        const b = budget({ usd: 1 });
        const client = h.client({ counting });
        const message = await h.within(b, () => client.messages.create(toolRound(text)));
        expect(message.usage.cache_creation?.ephemeral_1h_input_tokens).toBeGreaterThan(1000);
        expect(await usedMicros(b)).toBe(micros(message.usage));
      });
    }
  });
});
