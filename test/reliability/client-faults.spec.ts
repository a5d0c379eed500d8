import { getEventListeners } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { type FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing/index.js';
import { budget, MESSAGES, MODEL, promptOf, useHarness } from '../unit/openai/openai.fixture.js';
import { type Figures, printFigures } from './support/figures.js';
import { llmAppModule, SESSION_HEADER, snapshotOf } from './support/llm-app.fixture.js';

// The caller goes away: an AbortSignal on a plain call or a stream, and an HTTP client that
// disconnects from a Nest app while its handler waits on the provider. Whatever happens, the
// ledger must end with nothing reserved, and charge what docs/openai.md says: nothing for a call
// aborted before its response, the prompt plus what was received for a stream cut midway, and the
// whole call when the provider answered. Covered elsewhere: aborting a plain call before its
// response (test/unit/openai/failures.spec.ts) and aborting a stream through stream.controller or
// `break` (streams.spec.ts); this file adds the caller's own `signal` on streams, signals that
// are already aborted or fire after the response, and HTTP clients disconnecting from Nest.

const REPLY = 40;

describe('the caller aborts with an AbortSignal', () => {
  const h = useHarness({ replyTokens: REPLY, chunkDelayMs: 2 }, { serverPerTest: true });
  const figures: Figures[] = [];
  afterAll(() => printFigures('caller aborts (AbortSignal)', figures));

  const record = async (name: string, b: ReturnType<typeof budget>, sees: string) => {
    await h.server.settled();
    const { used, reserved } = await h.tokens(b);
    figures.push({
      case: name,
      'caller sees': sees,
      charged: used,
      billed: h.server.tally.totalTokens,
      'reserved after': reserved,
    });
    return { used, reserved, billed: h.server.tally.totalTokens };
  };
  const nameOf = (error: unknown) => (error as Error).constructor.name;

  it('a signal aborted before the call: nothing is sent, nothing charged', async () => {
    const b = budget(10_000);
    const client = h.client();
    const sees = await h
      .within(b, () =>
        client.chat.completions.create(
          { model: MODEL, messages: MESSAGES },
          { signal: AbortSignal.abort() },
        ),
      )
      .then(() => 'ok', nameOf);
    expect(sees).toBe('APIUserAbortError');
    expect(await record('signal already aborted', b, sees)).toEqual({
      used: 0,
      reserved: 0,
      billed: 0,
    });
    expect(h.server.requests).toHaveLength(0);
  });

  it('a plain call aborted while the provider is slow: charged what it reserved (fail closed)', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'delay', ms: 1_000 });
    const sees = await h
      .within(b, () =>
        client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, max_completion_tokens: 100 },
          { signal: AbortSignal.timeout(30) },
        ),
      )
      .then(() => 'ok', nameOf);
    expect(sees).toBe('APIUserAbortError');
    // A real provider runs a non-streamed call to its end after the client has gone; this fake
    // bills nothing, so the charge is above its tally, never below a real provider's bill.
    expect(await record('plain call, aborted before the response', b, sees)).toEqual({
      used: promptOf() + 100,
      reserved: 0,
      billed: 0,
    });
  });

  it('a signal that fires after the response changes nothing: the call is charged', async () => {
    const b = budget(10_000);
    const client = h.client();
    const controller = new AbortController();
    const sees = await h
      .within(b, () =>
        client.chat.completions.create(
          { model: MODEL, messages: MESSAGES },
          { signal: controller.signal },
        ),
      )
      .then(() => 'ok', nameOf);
    controller.abort();
    expect(sees).toBe('ok');
    expect(await record('plain call, aborted after the response', b, sees)).toEqual({
      used: promptOf() + REPLY,
      reserved: 0,
      billed: promptOf() + REPLY,
    });
  });

  it('a stream aborted before its first byte: charged its prompt, never 0', async () => {
    const b = budget(10_000);
    const client = h.client();
    h.server.fail({ kind: 'delay', ms: 1_000 });
    const sees = await h
      .within(b, async () => {
        const stream = await client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, stream: true },
          { signal: AbortSignal.timeout(30) },
        );
        for await (const _ of stream);
      })
      .then(() => 'ok', nameOf);
    expect(sees).toBe('APIUserAbortError');
    expect(await record('stream, aborted before the first byte', b, sees)).toEqual({
      used: promptOf(),
      reserved: 0,
      billed: 0,
    });
  });

  it("a stream aborted midway through the caller's signal: prompt + what was received", async () => {
    const b = budget(10_000);
    const client = h.client();
    const controller = new AbortController();
    let received = 0;
    const sees = await h
      .within(b, async () => {
        const stream = await client.chat.completions.create(
          { model: MODEL, messages: MESSAGES, stream: true },
          { signal: controller.signal },
        );
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content) received += 1;
          if (received === 10) controller.abort();
        }
      })
      .then(() => 'ok (loop ends quietly)', nameOf);
    // The SDK ends the loop without an error when the caller's own signal aborts it.
    expect(sees).toBe('ok (loop ends quietly)');
    const { used, reserved, billed } = await record(
      'stream, aborted midway by its signal',
      b,
      sees,
    );
    expect(received).toBe(10);
    expect(reserved).toBe(0);
    // Charged what reached the client; the fake bills what it wrote before it saw the abort,
    // which can be a chunk or two more (the charge can trail the bill by what was in flight).
    expect(used).toBe(promptOf() + 10);
    expect(billed).toBeGreaterThanOrEqual(used);
    expect(billed - used).toBeLessThanOrEqual(3);
  });
});

describe('one long-lived signal shared by many calls', () => {
  const h = useHarness({ replyTokens: 5 });

  it("Tokencap adds no abort listener of its own to the caller's signal", async () => {
    const b = budget(1e9);
    const count = async (client: OpenAI, stream: boolean) => {
      const shared = new AbortController();
      for (let i = 0; i < 50; i++) {
        await h.within(b, async () => {
          const result = await client.chat.completions.create(
            { model: MODEL, messages: MESSAGES, stream },
            { signal: shared.signal },
          );
          if (stream) for await (const _ of result as AsyncIterable<unknown>);
        });
      }
      return getEventListeners(shared.signal, 'abort').length;
    };
    // The SDK itself leaves one listener per request on the signal it is given (openai 6.x:
    // fetchWithTimeout never removes it), wrapped or not; prefer a signal per request.
    const raw = await count(h.raw(), false);
    expect(await count(h.client(), false)).toBe(raw);
    // A metered stream hands the SDK a signal of its own (AbortSignal.any), so the caller's
    // signal gains nothing however many streams share it.
    expect(await count(h.client(), true)).toBe(0);
    expect(await h.tokens(b)).toMatchObject({ reserved: 0 });
  });
});

describe('the HTTP client of a Nest app disconnects mid-request', () => {
  let server: FakeOpenAIServer;
  let app: INestApplication;
  let store: MemoryLedgerStore;
  let port: number;
  const figures: Figures[] = [];

  beforeAll(async () => {
    server = await startFakeOpenAI({ replyTokens: REPLY, chunkDelayMs: 5 });
  });
  afterAll(async () => {
    printFigures('HTTP client disconnects (Nest)', figures);
    await server.close();
  });
  afterEach(async () => {
    await app?.close();
    await server.settled();
    server.reset();
  });

  async function start(): Promise<void> {
    store = new MemoryLedgerStore({ sweepInterval: false });
    const moduleRef = await Test.createTestingModule({
      imports: [llmAppModule({ baseURL: server.baseURL, store })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  }

  /** Sends a request and destroys the socket once `gone()` says so; resolves with what it saw. */
  function disconnectWhen(
    method: 'GET' | 'POST',
    path: string,
    session: string,
    gone: (chunks: number) => boolean,
  ): Promise<string> {
    return new Promise((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { [SESSION_HEADER]: session, 'content-type': 'application/json' },
      });
      let chunks = 0;
      req.on('response', (res) => {
        res.on('data', () => {
          chunks += 1;
          if (gone(chunks)) req.destroy();
        });
        res.on('close', () => resolve(`${res.statusCode}, then disconnected`));
      });
      req.on('error', (error) => resolve((error as NodeJS.ErrnoException).code ?? error.message));
      req.end(method === 'POST' ? JSON.stringify({ message: 'Say hello.' }) : undefined);
      if (gone(0)) {
        // Wait until the provider has the request, so the handler is awaiting it.
        void vi.waitFor(() => expect(server.inFlight).toBe(1)).then(() => req.destroy());
      }
    });
  }

  const prompt = promptOf([{ role: 'user', content: 'Say hello.' }]);

  it('a handler awaiting a slow call completes it: the whole call is charged, nothing stays reserved', async () => {
    await start();
    server.fail({ kind: 'delay', ms: 200 });
    const sees = await disconnectWhen('POST', '/ask', 'gone-1', () => true);
    expect(sees).toBe('ECONNRESET');
    // Nest does not cancel a handler whose client left: the call runs to its end and is paid for.
    await vi.waitFor(async () =>
      expect((await snapshotOf(store, 'session', 'gone-1')).used).toEqual({
        tokens: prompt + REPLY,
        requests: 1,
      }),
    );
    await server.settled();
    const snapshot = await snapshotOf(store, 'session', 'gone-1');
    figures.push({
      case: 'plain handler, client gone while the provider is slow',
      'client sees': sees,
      charged: snapshot.used.tokens ?? 0,
      billed: server.tally.totalTokens,
      'reserved after': snapshot.reserved.tokens ?? 0,
    });
    expect(snapshot.reserved).toEqual({});
    expect(server.tally.totalTokens).toBe(prompt + REPLY);
  });

  it('a handler that forwards the disconnect as an AbortSignal: charged what it reserved', async () => {
    await start();
    server.fail({ kind: 'delay', ms: 1_000 });
    const sees = await disconnectWhen('POST', '/ask-abortable', 'gone-2', () => true);
    expect(sees).toBe('ECONNRESET');
    await server.settled();
    await vi.waitFor(async () =>
      expect(await snapshotOf(store, 'session', 'gone-2')).toEqual({
        used: { tokens: prompt + 50, requests: 1 },
        reserved: {},
      }),
    );
    figures.push({
      case: 'handler forwards the disconnect as an AbortSignal',
      'client sees': sees,
      charged: prompt + 50,
      billed: server.tally.totalTokens,
      'reserved after': 0,
    });
    expect(server.tally.totalTokens).toBe(0);
    expect(server.requests).toHaveLength(1);
  });

  it('an SSE route relaying a stream: the disconnect aborts it, prompt + received is charged', async () => {
    await start();
    const sees = await disconnectWhen('GET', '/stream', 'gone-3', (chunks) => chunks >= 5);
    expect(sees).toBe('200, then disconnected');
    await server.settled();
    await vi.waitFor(async () =>
      expect((await snapshotOf(store, 'session', 'gone-3')).reserved).toEqual({}),
    );
    const { used } = await snapshotOf(store, 'session', 'gone-3');
    const billed = server.tally.totalTokens;
    figures.push({
      case: 'SSE route, client gone after 5 events',
      'client sees': sees,
      charged: used.tokens ?? 0,
      billed,
      'reserved after': 0,
    });
    // The stream was stopped well before its 400 tokens, and charged as the fake billed it
    // (up to the chunks in flight when it saw the abort).
    expect(billed).toBeLessThan(prompt + 100);
    expect(used.tokens).toBeGreaterThan(prompt);
    expect(used.tokens).toBeLessThanOrEqual(billed);
    expect(billed - (used.tokens ?? 0)).toBeLessThanOrEqual(3);
  });
});
