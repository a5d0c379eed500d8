import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { BillingTally, type FakeOpenAITally } from './billing.tally.js';
import { handleChatCompletions } from './chat-completions.handler.js';
import { ClientConnection } from './client.connection.js';
import { handleEmbeddings } from './embeddings.handler.js';
import {
  resolveFakeOpenAIOptions,
  type FakeOpenAIOptions,
  type ResolvedFakeOpenAIOptions,
} from './fake-openai.options.js';
import {
  FaultInjector,
  type FailOptions,
  type FakeFault,
  type FaultHandle,
} from './fault.injector.js';
import { IdGenerator } from './id.generator.js';
import { readJsonBody } from './json-body.reader.js';
import { FakeHttpError, sendOpenAIError } from './openai-error.factory.js';
import { PromptCacheSimulator } from './prompt-cache.simulator.js';
import { RequestLog, type RecordedRequest } from './request.log.js';
import { handleResponses } from './responses.handler.js';
import type { RouteContext, RouteHandler } from './route.context.js';

/** A running fake OpenAI-compatible server. */
export interface FakeOpenAIServer {
  /** Pass as the SDK's `baseURL`, e.g. `'http://127.0.0.1:54321/v1'`. */
  readonly baseURL: string;
  /** The bound port (useful when `port: 0` let the OS choose). */
  readonly port: number;
  /** Snapshot of everything billed since start or the last `reset()`; see {@link FakeOpenAITally}. */
  readonly tally: FakeOpenAITally;
  /** Every request received, in arrival order, including refused and failed ones. */
  readonly requests: readonly RecordedRequest[];
  /** Requests still being answered (a stream in progress counts until it ends or is aborted). */
  readonly inFlight: number;
  /**
   * Makes upcoming requests misbehave. Faults apply in the order scheduled, one per request.
   * @example server.fail({ kind: 'error', status: 429 }, { times: 2 })
   */
  fail(fault: FakeFault, options?: FailOptions): FaultHandle;
  /** Cancels every scheduled fault. */
  clearFaults(): void;
  /**
   * Resolves once no request is in flight, so the tally is final. Needed after a client abort:
   * the fake notices the disconnect, and bills, a moment after the client has moved on.
   */
  settled(): Promise<void>;
  /** Clears the tally, the request log, scheduled faults, the prompt cache and the id counters. */
  reset(): void;
  /** Stops listening and drops open connections, ending any stream in progress. */
  close(): Promise<void>;
}

const ROUTES: Readonly<Record<string, RouteHandler>> = {
  'POST /v1/chat/completions': handleChatCompletions,
  'POST /v1/responses': handleResponses,
  'POST /v1/embeddings': handleEmbeddings,
};

/**
 * Starts a fake OpenAI-compatible HTTP server on `127.0.0.1` (random port by default) that the real
 * `openai` SDK can talk to: `new OpenAI({ apiKey: 'test', baseURL: server.baseURL })`.
 *
 * Usage is counted with Tokencap's counting rules, replies are made of tokens that count exactly,
 * and `server.tally` records what was billed, so tests can compare Tokencap's ledger with what a
 * provider would charge.
 */
export async function startFakeOpenAI(options?: FakeOpenAIOptions): Promise<FakeOpenAIServer> {
  const fake = new FakeOpenAI(resolveFakeOpenAIOptions(options));
  await fake.listen();
  return fake;
}

class FakeOpenAI implements FakeOpenAIServer {
  private readonly server: Server;
  private readonly billing = new BillingTally();
  private readonly log: RequestLog;
  private readonly faults = new FaultInjector();
  private readonly ids = new IdGenerator();
  private readonly cache: PromptCacheSimulator;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private boundPort = 0;

  constructor(private readonly options: ResolvedFakeOpenAIOptions) {
    this.log = new RequestLog(options.recordRequests);
    this.cache = new PromptCacheSimulator(options.promptCaching);
    this.server = createServer((req, res) => void this.handle(req, res));
    // Benchmarks open hundreds of concurrent streams; Node's defaults would time some out.
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 5_000;
  }

  get baseURL(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${this.boundPort}/v1`;
  }

  get port(): number {
    return this.boundPort;
  }

  get tally(): FakeOpenAITally {
    return this.billing.snapshot();
  }

  get requests(): readonly RecordedRequest[] {
    return this.log.list();
  }

  get inFlight(): number {
    return this.active;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  fail(fault: FakeFault, options?: FailOptions): FaultHandle {
    return this.faults.add(fault, options);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  settled(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  reset(): void {
    this.billing.reset();
    this.log.reset();
    this.faults.clear();
    this.cache.reset();
    this.ids.reset();
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      // close() alone waits for keep-alive sockets and running streams to end by themselves.
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.active += 1;
    if (!this.options.keepAlive) res.shouldKeepAlive = false;
    const connection = new ClientConnection(res);
    try {
      await this.exchange(req, res, connection);
    } catch (error) {
      if (error instanceof FakeHttpError) {
        sendOpenAIError(res, error.status, error.fields, error.headers);
      } else if (!res.headersSent) {
        sendOpenAIError(res, 500, { message: `Fake OpenAI crashed: ${String(error)}` });
      } else {
        connection.cut();
      }
    } finally {
      this.active -= 1;
      if (this.active === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  private async exchange(
    req: IncomingMessage,
    res: ServerResponse,
    connection: ClientConnection,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const method = req.method ?? 'GET';
    const read = await readJsonBody(req);
    const request = this.log.record({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: read.json,
      rawBody: read.raw,
      receivedAt: this.options.now(),
    });
    const requestId = this.ids.next('req_fake_');

    const handler = ROUTES[`${method} ${url.pathname.replace(/\/+$/, '')}`];
    if (!handler) {
      throw new FakeHttpError(404, { message: `Invalid URL (${method} ${url.pathname})` });
    }
    this.authorize(req);
    if (!read.parsed) {
      throw new FakeHttpError(400, {
        message: 'We could not parse the JSON body of your request.',
        type: 'invalid_request_error',
      });
    }

    const fault = this.faults.take(request);
    if (!(await connection.pause(this.options.latencyMs))) return;
    if (fault?.kind === 'delay' && !(await connection.pause(fault.ms))) return;
    if (fault?.kind === 'error') {
      sendOpenAIError(res, fault.status, fault, { 'x-request-id': requestId, ...fault.headers });
      return;
    }
    const streamed = (request.body as { stream?: unknown } | undefined)?.stream === true;
    if ((fault?.kind === 'cut-stream' || fault?.kind === 'empty-stream') && !streamed) {
      connection.cut();
      return;
    }

    const ctx: RouteContext = {
      req,
      res,
      connection,
      request,
      fault,
      requestId,
      options: this.options,
      ids: this.ids,
      tally: this.billing,
      cache: this.cache,
    };
    await handler(ctx);
  }

  /** Mirrors the API's 401 when an `apiKey` was configured and the request does not carry it. */
  private authorize(req: IncomingMessage): void {
    if (this.options.apiKey === undefined) return;
    if (req.headers.authorization === `Bearer ${this.options.apiKey}`) return;
    throw new FakeHttpError(401, {
      message: 'Incorrect API key provided.',
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    });
  }
}
