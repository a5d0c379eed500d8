import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { INPUT_RULES } from '../../../../lib/testing/anthropic/prompt.layout.js';
import { generateProse } from '../../../../lib/testing/anthropic/prose.generator.js';
import { startFakeAnthropic, type FakeAnthropicServer } from '../../../../lib/testing/index.js';
import { count, MODEL } from './anthropic.fixture.js';

// The server clock is a variable the tests move, so cache lifetimes are checked without sleeping.
let clock = 1_000_000;
let server: FakeAnthropicServer;
let client: Anthropic;

beforeAll(async () => {
  server = await startFakeAnthropic({ replyTokens: 5, now: () => clock });
  client = new Anthropic({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
});
afterEach(() => server.reset());
afterAll(() => server.close());

const MINUTE = 60_000;
/** Text of exactly `tokens` tokens under the classic tokenizer, distinct per seed. */
const text = (tokens: number, seed = 1) => generateProse(tokens, seed, 'claude-3');
const ephemeral = { type: 'ephemeral' } as const;
const hour = { type: 'ephemeral', ttl: '1h' } as const;

const SYSTEM = text(1500);
const systemTokens = 1500 + INPUT_RULES.system;
const tail = (question: string) =>
  INPUT_RULES.perMessage + count(question) + INPUT_RULES.replyPrimer;

function ask(question: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) {
  return client.messages.create({
    model: MODEL,
    max_tokens: 50,
    system: [{ type: 'text', text: SYSTEM, cache_control: ephemeral }],
    messages: [{ role: 'user', content: question }],
    ...extra,
  });
}

describe('prompt cache', () => {
  it('writes the prefix on the first call and reads it on the next ones', async () => {
    const first = await ask('What is new?');
    expect(first.usage).toMatchObject({
      input_tokens: tail('What is new?'),
      cache_creation_input_tokens: systemTokens,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: systemTokens, ephemeral_1h_input_tokens: 0 },
    });
    const second = await ask('And what changed since?');
    expect(second.usage).toMatchObject({
      input_tokens: tail('And what changed since?'),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: systemTokens,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    });
    expect(server.tally).toMatchObject({
      requests: 2,
      inputTokens: tail('What is new?') + tail('And what changed since?'),
      cacheCreationInputTokens: systemTokens,
      cacheCreation5mInputTokens: systemTokens,
      cacheCreation1hInputTokens: 0,
      cacheReadInputTokens: systemTokens,
      reported: { cacheReadInputTokens: systemTokens, cacheCreationInputTokens: systemTokens },
    });
  });

  it('reports the same split in message_start and message_delta of a stream', async () => {
    const warm = await client.messages
      .stream({
        model: MODEL,
        max_tokens: 50,
        system: [{ type: 'text', text: SYSTEM, cache_control: ephemeral }],
        messages: [{ role: 'user', content: 'Warm up.' }],
      })
      .finalMessage();
    expect(warm.usage.cache_creation_input_tokens).toBe(systemTokens);
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 50,
      system: [{ type: 'text', text: SYSTEM, cache_control: ephemeral }],
      messages: [{ role: 'user', content: 'Streamed.' }],
    });
    let start: Anthropic.Usage | undefined;
    stream.on('streamEvent', (event) => {
      if (event.type === 'message_start') start = event.message.usage;
    });
    const message = await stream.finalMessage();
    expect(start).toMatchObject({
      cache_read_input_tokens: systemTokens,
      input_tokens: tail('Streamed.'),
    });
    expect(message.usage).toMatchObject({
      cache_read_input_tokens: systemTokens,
      cache_creation_input_tokens: 0,
      input_tokens: tail('Streamed.'),
    });
  });

  it('caches nothing below the model minimum: 1,024 for Sonnet 4.5, 512 for Opus 5, 4,096 for Haiku 4.5', async () => {
    const short = text(700, 2);
    const call = (model: string, system: string) =>
      client.messages.create({
        model,
        max_tokens: 5,
        system: [{ type: 'text', text: system, cache_control: ephemeral }],
        messages: [{ role: 'user', content: 'Hi' }],
      });
    expect((await call(MODEL, short)).usage.cache_creation_input_tokens).toBe(0);
    expect((await call(MODEL, short)).usage.cache_read_input_tokens).toBe(0);
    const opus = await call('claude-opus-5', short);
    expect(opus.usage.cache_creation_input_tokens).toBeGreaterThan(512);
    expect((await call('claude-opus-5', short)).usage.cache_read_input_tokens).toBe(
      opus.usage.cache_creation_input_tokens,
    );
    const haiku = await call('claude-haiku-4-5', text(4000, 3));
    expect(haiku.usage.cache_creation_input_tokens).toBe(0);
    const exactly = await call('claude-haiku-4-5', text(4096 - INPUT_RULES.system, 3));
    expect(exactly.usage.cache_creation_input_tokens).toBe(4096);
  });

  it('splits writes between the 1-hour and 5-minute lifetimes (positions A, B, C)', async () => {
    const tools: Anthropic.Tool[] = [
      {
        name: 'lookup',
        description: text(1200, 4),
        input_schema: { type: 'object', properties: {} },
        cache_control: hour,
      },
    ];
    const toolTokens =
      INPUT_RULES.toolPromptAuto +
      INPUT_RULES.perTool +
      count('lookup') +
      1200 +
      count(JSON.stringify(tools[0]!.input_schema));
    const first = await ask('One?', { tools, tool_choice: { type: 'none' } });
    expect(first.usage).toMatchObject({
      cache_read_input_tokens: 0,
      cache_creation: {
        ephemeral_1h_input_tokens: toolTokens,
        ephemeral_5m_input_tokens: systemTokens,
      },
      cache_creation_input_tokens: toolTokens + systemTokens,
      input_tokens: tail('One?'),
    });
    // Six minutes later the 5-minute entry is gone, the 1-hour one is not.
    clock += 6 * MINUTE;
    const later = await ask('Two?', { tools, tool_choice: { type: 'none' } });
    expect(later.usage).toMatchObject({
      cache_read_input_tokens: toolTokens,
      cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: systemTokens },
    });
    expect(server.tally).toMatchObject({
      cacheCreation1hInputTokens: toolTokens,
      cacheCreation5mInputTokens: 2 * systemTokens,
      cacheReadInputTokens: toolTokens,
    });
    clock += 61 * MINUTE;
    const muchLater = await ask('Three?', { tools, tool_choice: { type: 'none' } });
    expect(muchLater.usage.cache_read_input_tokens).toBe(0);
  });

  it('expires a 5-minute entry 5 minutes after its last use; each hit restarts the clock', async () => {
    await ask('a');
    clock += 4 * MINUTE;
    expect((await ask('b')).usage.cache_read_input_tokens).toBe(systemTokens);
    clock += 4 * MINUTE; // 8 minutes after the write, 4 after the hit
    expect((await ask('c')).usage.cache_read_input_tokens).toBe(systemTokens);
    clock += 5 * MINUTE + 1;
    const expired = await ask('d');
    expect(expired.usage).toMatchObject({
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: systemTokens,
    });
  });

  it('grows a cached conversation turn by turn with a breakpoint on the last message', async () => {
    const history: Anthropic.MessageParam[] = [];
    let previousPrefix = 0;
    for (let turn = 0; turn < 4; turn++) {
      history.push({
        role: 'user',
        content: [{ type: 'text', text: text(700, 10 + turn), cache_control: ephemeral }],
      });
      const reply = await client.messages.create({
        model: MODEL,
        max_tokens: 5,
        messages: history,
      });
      const u = reply.usage;
      expect(u.cache_read_input_tokens).toBe(previousPrefix);
      // Everything up to the breakpoint is read or written; only the reply primer is fresh input
      // (the first turn is under the 1,024 minimum, so nothing is cached yet).
      if (turn === 0) expect(u.cache_creation_input_tokens).toBe(0);
      else expect(u.input_tokens).toBe(INPUT_RULES.replyPrimer);
      previousPrefix = turn === 0 ? 0 : u.cache_read_input_tokens! + u.cache_creation_input_tokens!;
      // Earlier breakpoints are moved forward, as clients do: only the last message keeps one.
      const last = history.at(-1)!.content as Anthropic.TextBlockParam[];
      history[history.length - 1] = {
        role: 'user',
        content: [{ type: 'text', text: last[0]!.text }],
      };
      history.push({ role: 'assistant', content: 'Noted.' });
    }
    expect(previousPrefix).toBeGreaterThan(3 * 700);
  });

  it('finds an earlier entry only within 20 blocks before a breakpoint', async () => {
    const block = (tokens: number, seed: number) => ({
      type: 'text' as const,
      text: text(tokens, seed),
    });
    const first = block(1100, 99);
    const send = (content: Anthropic.TextBlockParam[]) =>
      client.messages.create({
        model: MODEL,
        max_tokens: 5,
        messages: [{ role: 'user', content }],
      });
    const tailOf = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => block(5, seed + i));
    const withBreakpointLast = (content: Anthropic.TextBlockParam[]) =>
      content.map((b, i) => (i === content.length - 1 ? { ...b, cache_control: ephemeral } : b));

    const written = (await send([{ ...first, cache_control: ephemeral }])).usage;
    expect(written.cache_creation_input_tokens).toBe(INPUT_RULES.perMessage + 1100);
    // The same first block, then 19 new blocks and a breakpoint: the lookback reaches block 0.
    const near = await send(withBreakpointLast([first, ...tailOf(19, 200)]));
    expect(near.usage.cache_read_input_tokens).toBe(INPUT_RULES.perMessage + 1100);
    // 20 new blocks put the breakpoint at block 20: block 0 is just out of reach.
    const edge = await send(withBreakpointLast([first, ...tailOf(20, 400)]));
    expect(edge.usage.cache_read_input_tokens).toBe(0);
    // 25 new blocks: block 0 is out of reach (and nothing else was written with these blocks).
    const far = await send(withBreakpointLast([first, ...tailOf(25, 300)]));
    expect(far.usage.cache_read_input_tokens).toBe(0);
    expect(far.usage.cache_creation_input_tokens).toBe(INPUT_RULES.perMessage + 1100 + 25 * 5);
  });

  it('refreshes an entry found by the lookback, not only those at breakpoints', async () => {
    const first = { type: 'text' as const, text: text(1100, 98) };
    const later = (seed: number) =>
      client.messages.create({
        model: MODEL,
        max_tokens: 5,
        messages: [
          {
            role: 'user',
            content: [first, { type: 'text', text: `Question ${seed}?`, cache_control: ephemeral }],
          },
        ],
      });
    await client.messages.create({
      model: MODEL,
      max_tokens: 5,
      messages: [{ role: 'user', content: [{ ...first, cache_control: ephemeral }] }],
    });
    clock += 4 * MINUTE;
    expect((await later(1)).usage.cache_read_input_tokens).toBe(INPUT_RULES.perMessage + 1100);
    clock += 4 * MINUTE; // 8 minutes after the write, 4 after the hit
    expect((await later(2)).usage.cache_read_input_tokens).toBe(INPUT_RULES.perMessage + 1100);
  });

  it('caches up to the last block with top-level cache_control (automatic caching)', async () => {
    const history: Anthropic.MessageParam[] = [{ role: 'user', content: text(1300, 20) }];
    const first = await client.messages.create({
      model: MODEL,
      max_tokens: 5,
      messages: history,
      cache_control: ephemeral,
    });
    const prefix = INPUT_RULES.perMessage + 1300;
    expect(first.usage).toMatchObject({
      cache_creation_input_tokens: prefix,
      input_tokens: INPUT_RULES.replyPrimer,
    });
    history.push({ role: 'assistant', content: 'Noted.' }, { role: 'user', content: 'Next?' });
    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 5,
      messages: history,
      cache_control: ephemeral,
    });
    expect(second.usage).toMatchObject({
      cache_read_input_tokens: prefix,
      cache_creation_input_tokens: 2 * INPUT_RULES.perMessage + count('Noted.') + count('Next?'),
      input_tokens: INPUT_RULES.replyPrimer,
    });
  });

  it('keeps tools and system cached when tool_choice changes, but not the messages', async () => {
    const tools: Anthropic.Tool[] = [{ name: 'noop', input_schema: { type: 'object' } }];
    const messages: Anthropic.MessageParam[] = [
      { role: 'user', content: [{ type: 'text', text: text(300, 30), cache_control: ephemeral }] },
    ];
    const first = await ask('', { tools, messages, tool_choice: { type: 'auto' } });
    const total = first.usage.cache_creation_input_tokens!;
    const again = await ask('', { tools, messages, tool_choice: { type: 'auto' } });
    expect(again.usage.cache_read_input_tokens).toBe(total);
    const changed = await ask('', { tools, messages, tool_choice: { type: 'none' } });
    expect(changed.usage.cache_read_input_tokens).toBeGreaterThan(0);
    expect(changed.usage.cache_read_input_tokens).toBeLessThan(total);
    expect(changed.usage.cache_creation_input_tokens).toBe(INPUT_RULES.perMessage + 300);
  });

  it('writes the cache once a stream has begun, even if it is then cut', async () => {
    server.fail({ kind: 'cut-stream', afterChunks: 1 });
    const cut = client.messages.stream({
      model: MODEL,
      max_tokens: 50,
      system: [{ type: 'text', text: SYSTEM, cache_control: ephemeral }],
      messages: [{ role: 'user', content: 'Cut.' }],
    });
    await expect(cut.finalMessage()).rejects.toThrow();
    await server.settled();
    expect(server.tally.cacheCreationInputTokens).toBe(systemTokens);
    expect((await ask('Next.')).usage.cache_read_input_tokens).toBe(systemTokens);
  });

  it('keeps entries per model', async () => {
    await ask('Hi');
    const other = await ask('Hi', { model: 'claude-sonnet-4-6' });
    expect(other.usage).toMatchObject({
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: systemTokens,
    });
  });

  it('lets concurrent identical requests all miss: entries exist once a response has begun', async () => {
    const slow = await startFakeAnthropic({ now: () => clock });
    // The first request to arrive waits before answering; the second arrives meanwhile.
    slow.fail({ kind: 'delay', ms: 400 });
    try {
      const c = new Anthropic({ apiKey: 'test', baseURL: slow.baseURL, maxRetries: 0 });
      const params = {
        model: MODEL,
        max_tokens: 5,
        system: [{ type: 'text' as const, text: SYSTEM, cache_control: ephemeral }],
        messages: [{ role: 'user' as const, content: 'Same' }],
      };
      const both = await Promise.all([c.messages.create(params), c.messages.create(params)]);
      for (const m of both) expect(m.usage.cache_creation_input_tokens).toBe(systemTokens);
      expect((await c.messages.create(params)).usage.cache_read_input_tokens).toBe(systemTokens);
    } finally {
      await slow.close();
    }
  });

  it('bills everything as input with promptCaching off, and forgets entries on reset()', async () => {
    await ask('Hi');
    server.reset();
    expect((await ask('Hi')).usage.cache_read_input_tokens).toBe(0);
    const off = await startFakeAnthropic({ promptCaching: false });
    try {
      const c = new Anthropic({ apiKey: 'test', baseURL: off.baseURL, maxRetries: 0 });
      const params = {
        model: MODEL,
        max_tokens: 5,
        system: [{ type: 'text' as const, text: SYSTEM, cache_control: ephemeral }],
        messages: [{ role: 'user' as const, content: 'Hi' }],
      };
      await c.messages.create(params);
      const m = await c.messages.create(params);
      expect(m.usage).toMatchObject({
        input_tokens: systemTokens + tail('Hi'),
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      });
    } finally {
      await off.close();
    }
  });
});
