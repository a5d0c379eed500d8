import type { IncomingMessage, ServerResponse } from 'node:http';

import type { ClientConnection } from '../client.connection.js';
import type { IdGenerator } from '../id.generator.js';
import type { RecordedRequest } from '../request.log.js';
import { AnthropicHttpError } from './anthropic-error.factory.js';
import type { AnthropicBilledUsage, AnthropicBillingTally } from './anthropic-billing.tally.js';
import type { FakeAnthropicFault } from './anthropic-fault.types.js';
import type { CacheLookup } from './claude-prompt-cache.simulator.js';
import type { ClaudePromptCache } from './claude-prompt-cache.simulator.js';
import type { ResolvedFakeAnthropicOptions, ResolvedModel } from './fake-anthropic.options.js';
import { quote } from './fake-anthropic.options.js';

/** Everything an endpoint handler of the fake Anthropic API needs for one exchange. */
export interface AnthropicExchange {
  req: IncomingMessage;
  res: ServerResponse;
  connection: ClientConnection;
  request: RecordedRequest;
  /** The fault this request drew; `error` and `delay` are already applied. */
  fault: FakeAnthropicFault | undefined;
  /** Sent back as the `request-id` header and in error bodies. */
  requestId: string;
  options: ResolvedFakeAnthropicOptions;
  ids: IdGenerator;
  tally: AnthropicBillingTally;
  cache: ClaudePromptCache;
}

/**
 * An endpoint, in two steps as the API works: on arrival it validates the request, counts it and
 * looks up the prompt cache (throwing the API's 4xx errors), and returns the step that answers
 * once the time to first token (`latencyMs`, a `delay` fault) has passed, and bills.
 */
export type AnthropicHandler = (exchange: AnthropicExchange) => () => Promise<void>;

/** The model's settings. @throws AnthropicHttpError 404 `not_found_error` for an unknown model. */
export function resolveModel(exchange: AnthropicExchange, name: string): ResolvedModel {
  const model = exchange.options.model(name);
  if (!model) throw new AnthropicHttpError(404, `model: ${quote(name).slice(1, -1)}`);
  return model;
}

/** Writes a 200 JSON body with the `request-id` header, unless the client is gone. */
export function sendJson(exchange: AnthropicExchange, body: unknown): void {
  if (exchange.connection.gone) return;
  const text = JSON.stringify(body);
  exchange.res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'request-id': exchange.requestId,
  });
  exchange.res.end(text);
}

/**
 * Bills one request at most once, by the server's `abortBilling` rule, and writes its prompt-cache
 * entries when its response begins (or, under `'full'` billing, when it is billed unseen).
 */
export class RequestBilling {
  private billed = false;
  private committed = false;

  constructor(
    private readonly exchange: AnthropicExchange,
    private readonly model: string,
    private readonly cache: CacheLookup,
    /** What the whole reply costs. */
    readonly full: AnthropicBilledUsage,
  ) {}

  /** The response's first byte is about to go out: the prompt is processed and cached. */
  started(): void {
    if (this.committed) return;
    this.committed = true;
    this.cache.commit();
  }

  /** The whole reply was delivered. */
  complete(): void {
    this.started();
    this.bill(this.full);
  }

  /**
   * The response ended early: the client left, or a fault cut it. Bills the input and the output
   * sent so far when the response had begun (`'generated'`), or the whole reply (`'full'`).
   */
  ended(sent: { outputTokens: number; thinkingTokens: number } | undefined): void {
    if (this.exchange.options.abortBilling === 'full') return this.complete();
    if (sent) this.bill({ ...this.full, ...sent });
  }

  private bill(usage: AnthropicBilledUsage): void {
    if (this.billed) return;
    this.billed = true;
    this.exchange.tally.bill(this.model, usage);
  }
}
