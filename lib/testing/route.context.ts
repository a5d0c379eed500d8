import type { IncomingMessage, ServerResponse } from 'node:http';

import type { BillingTally } from './billing.tally.js';
import type { ClientConnection } from './client.connection.js';
import type { ResolvedFakeOpenAIOptions } from './fake-openai.options.js';
import type { FakeFault } from './fault.injector.js';
import type { IdGenerator } from './id.generator.js';
import type { PromptCacheSimulator } from './prompt-cache.simulator.js';
import type { RecordedRequest } from './request.log.js';

/** Everything an endpoint handler needs for one exchange. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  connection: ClientConnection;
  request: RecordedRequest;
  /** The fault this request drew, if any; `error`, `delay` and non-stream cuts are already applied. */
  fault: FakeFault | undefined;
  /** Sent back as `x-request-id`, as the real API does. */
  requestId: string;
  options: ResolvedFakeOpenAIOptions;
  ids: IdGenerator;
  tally: BillingTally;
  cache: PromptCacheSimulator;
}

/** An endpoint: answers the exchange and bills what it produced. */
export type RouteHandler = (ctx: RouteContext) => Promise<void>;

/**
 * Writes a JSON response with the request id header, unless the client is gone; a
 * `drop-after-billing` fault (the request is billed by now) drops the connection instead.
 */
export function sendJson(ctx: RouteContext, status: number, body: unknown): void {
  if (ctx.connection.gone) return;
  if (ctx.fault?.kind === 'drop-after-billing' && status === 200) return ctx.connection.cut();
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': ctx.requestId,
  });
  ctx.res.end(text);
}

/** Epoch seconds from the server clock, the unit of `created` / `created_at`. */
export function nowSeconds(ctx: RouteContext): number {
  return Math.floor(ctx.options.now() / 1000);
}

/** The model name to report: the requested one, or its configured snapshot. */
export function reportedModel(ctx: RouteContext, model: string): string {
  return ctx.options.modelSnapshots.get(model) ?? model;
}
