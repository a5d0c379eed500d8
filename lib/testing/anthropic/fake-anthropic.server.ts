import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ClientConnection } from '../client.connection.js';
import { FaultInjector, type FailOptions, type FaultHandle } from '../fault.injector.js';
import { IdGenerator } from '../id.generator.js';
import { readJsonBody } from '../json-body.reader.js';
import { FakeHttpError } from '../openai-error.factory.js';
import { RequestLog, type RecordedRequest } from '../request.log.js';
import { AnthropicHttpError, sendAnthropicError } from './anthropic-error.factory.js';
import type { AnthropicExchange, AnthropicHandler } from './anthropic-exchange.js';
import { AnthropicBillingTally, type FakeAnthropicTally } from './anthropic-billing.tally.js';
import {
  sendErrorFault,
  validateAnthropicFault,
  type FakeAnthropicFault,
} from './anthropic-fault.types.js';
import { ClaudePromptCache } from './claude-prompt-cache.simulator.js';
import { handleCountTokens } from './count-tokens.handler.js';
import {
  resolveFakeAnthropicOptions,
  type FakeAnthropicOptions,
  type ResolvedFakeAnthropicOptions,
} from './fake-anthropic.options.js';
import { handleMessages } from './messages.handler.js';

/** A running fake Anthropic Messages API. */
export interface FakeAnthropicServer {
  /** Pass as the SDK's `baseURL`, e.g. `'http://127.0.0.1:54321'` (the SDK adds `/v1/...`). */
  readonly baseURL: string;
  /** The bound port (useful when `port: 0` let the OS choose). */
  readonly port: number;
  /** Snapshot of everything billed since start or the last `reset()`; see {@link FakeAnthropicTally}. */
  readonly tally: FakeAnthropicTally;
  /** Every request received, in arrival order, including refused, failed and retried ones. */
  readonly requests: readonly RecordedRequest[];
  /** Requests still being answered (a stream in progress counts until it ends or is aborted). */
  readonly inFlight: number;
  /**
   * Makes upcoming requests misbehave, one fault per request, in the order scheduled. Any request
   * to a known route draws the next fault, `count_tokens` included; target one route with
   * `when: (r) => r.path === '/v1/messages'`.
   * @example server.fail({ kind: 'error', status: 529 }, { times: 2 })
   */
  fail(fault: FakeAnthropicFault, options?: FailOptions): FaultHandle;
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

const ROUTES: Readonly<Record<string, AnthropicHandler>> = {
  'POST /v1/messages': handleMessages,
  'POST /v1/messages/count_tokens': handleCountTokens,
};

/**
 * Starts a fake Anthropic Messages API on `127.0.0.1` (random port by default) that the real
 * `@anthropic-ai/sdk` talks to: `new Anthropic({ apiKey: 'test', baseURL: server.baseURL })`.
 *
 * It bills like an independent provider: its own token counter (see `claude-token.counter.ts`),
 * Anthropic's usage split (uncached input, cache reads, 5-minute and 1-hour cache writes, output
 * with thinking), a simulated prompt cache driven by `cache_control`, and `server.tally` to compare
 * what a provider charged with what Tokencap's budgets recorded.
 * @throws TypeError or RangeError for invalid options (see {@link FakeAnthropicOptions}).
 */
export async function startFakeAnthropic(
  options?: FakeAnthropicOptions,
): Promise<FakeAnthropicServer> {
  const fake = new FakeAnthropic(resolveFakeAnthropicOptions(options));
  await fake.listen();
  return fake;
}

class FakeAnthropic implements FakeAnthropicServer {
  private readonly server: Server;
  private readonly billing = new AnthropicBillingTally();
  private readonly log: RequestLog;
  private readonly faults = new FaultInjector<FakeAnthropicFault>(validateAnthropicFault);
  private readonly ids = new IdGenerator();
  private readonly cache: ClaudePromptCache;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private boundPort = 0;

  constructor(private readonly options: ResolvedFakeAnthropicOptions) {
    this.log = new RequestLog(options.recordRequests);
    this.cache = new ClaudePromptCache(options.promptCaching, options.now);
    this.server = createServer((req, res) => void this.handle(req, res));
    // Benchmarks open hundreds of concurrent streams; Node's defaults would time some out.
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 5_000;
  }

  get baseURL(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get tally(): FakeAnthropicTally {
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

  fail(fault: FakeAnthropicFault, options?: FailOptions): FaultHandle {
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
    const requestId = this.ids.next('req_fake_');
    try {
      await this.exchange(req, res, connection, requestId);
    } catch (error) {
      if (error instanceof AnthropicHttpError) {
        sendAnthropicError(
          res,
          error.status,
          requestId,
          { type: error.type, message: error.message },
          error.headers,
        );
      } else if (error instanceof FakeHttpError) {
        // Shared readers (body size, test headers) speak OpenAI's error type; answer in Anthropic's.
        sendAnthropicError(res, error.status, requestId, { message: error.message });
      } else if (!res.headersSent) {
        sendAnthropicError(res, 500, requestId, {
          message: `Fake Anthropic crashed: ${String(error)}`,
        });
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
    requestId: string,
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

    const handler = ROUTES[`${method} ${url.pathname.replace(/\/+$/, '')}`];
    if (!handler) throw new AnthropicHttpError(404, 'Not Found');
    this.authorize(req);
    if (req.headers['anthropic-version'] === undefined) {
      throw new AnthropicHttpError(400, 'anthropic-version: header is required');
    }
    if (!read.parsed) throw new AnthropicHttpError(400, 'Malformed JSON in request body.');

    const fault = this.faults.take(request);
    if (fault?.kind === 'error') {
      await connection.pause(this.options.latencyMs);
      return sendErrorFault(res, requestId, fault);
    }
    const exchange: AnthropicExchange = {
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
    // Validation, counting and the cache lookup happen on arrival; the answer (and the cache
    // write) comes after the time to first token, so concurrent identical requests all miss.
    const respond = handler(exchange);
    // Under `abortBilling: 'full'` a client that gives up while waiting is still billed, so the
    // exchange goes on (the answer sees `connection.gone`) instead of stopping here.
    await connection.pause(this.options.latencyMs);
    if (fault?.kind === 'delay' && !connection.gone) await connection.pause(fault.ms);
    await respond();
  }

  /** Mirrors the API's 401 when an `apiKey` was configured and the request does not carry it. */
  private authorize(req: IncomingMessage): void {
    const expected = this.options.apiKey;
    if (expected === undefined) return;
    if (req.headers['x-api-key'] === expected) return;
    if (req.headers.authorization === `Bearer ${expected}`) return;
    throw new AnthropicHttpError(401, 'invalid x-api-key');
  }
}
