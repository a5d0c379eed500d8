import { SseWriter } from '../sse.writer.js';
import { anthropicErrorBody } from './anthropic-error.factory.js';
import type { AnthropicExchange, RequestBilling } from './anthropic-exchange.js';
import { wireUsage } from './anthropic-usage.reporter.js';
import type { PlannedBlock, ReplyPlan } from './claude-reply.planner.js';
import type { MessageHead } from './messages.handler.js';
import { splitJson, splitText, type Delta } from './stream-delta.splitter.js';

/**
 * Streams a planned reply as the API's server-sent events: `message_start` (input usage and a
 * provisional `output_tokens` of 1), then per block `content_block_start`, its deltas
 * (`thinking_delta` then `signature_delta`, `text_delta`, or `input_json_delta`) and
 * `content_block_stop`, with a `ping` after the first block starts; then `message_delta` (stop
 * reason and cumulative usage) and `message_stop`. Each delta carries at least `tokensPerChunk`
 * tokens, `chunkDelayMs` apart. The bill is final before `message_delta` goes out; a stream that
 * ends early is billed by {@link RequestBilling.ended}.
 */
export async function streamMessage(
  exchange: AnthropicExchange,
  head: MessageHead,
  plan: ReplyPlan,
  billing: RequestBilling,
  count: (text: string) => number,
): Promise<void> {
  const { connection, options, fault, tally } = exchange;
  if (connection.gone) return billing.ended(undefined);
  if (fault?.kind === 'drop-after-billing') {
    billing.complete();
    return connection.cut();
  }
  const sse = new SseWriter(connection, exchange.requestId);
  const send = (type: string, data: Record<string, unknown>) => sse.send({ type, ...data }, type);
  const faultAfter =
    fault?.kind === 'cut-stream' || fault?.kind === 'stream-error' ? fault.afterChunks : undefined;
  const sent = { outputTokens: 0, thinkingTokens: 0 };
  let deltasSent = 0;
  let finished = false;

  // The SSE writer sets x-request-id; the Anthropic SDK reads request-id.
  exchange.res.setHeader('request-id', exchange.requestId);
  billing.started();
  sse.open();
  try {
    if (fault?.kind === 'empty-stream') return connection.cut();
    const provisional = {
      ...billing.full,
      outputTokens: Math.min(1, plan.outputTokens),
      thinkingTokens: 0,
    };
    const startUsage = wireUsage(provisional, 'message', fault, tally, false);
    const message = {
      ...head,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      ...(startUsage === undefined ? {} : { usage: startUsage }),
    };
    if (!(await send('message_start', { message }))) return;

    for (const [index, block] of plan.blocks.entries()) {
      if (
        !(await send('content_block_start', { index, content_block: startOf(block, exchange) }))
      ) {
        return;
      }
      if (index === 0 && !(await send('ping', {}))) return;
      const deltas = deltasOf(block, options.tokensPerChunk, count);
      for (const delta of deltas.content) {
        if (faultAfter !== undefined && deltasSent >= faultAfter) return await misbehave();
        if (!(await connection.pause(options.chunkDelayMs))) return;
        if (!(await send('content_block_delta', { index, delta: wireDelta(block, delta) }))) return;
        deltasSent += 1;
        record(block, delta.tokens);
      }
      if (block.type === 'thinking') {
        const delta = { type: 'signature_delta', signature: block.signature };
        if (!(await send('content_block_delta', { index, delta }))) return;
        record(block, deltas.onSignature);
      }
      if (!(await send('content_block_stop', { index }))) return;
    }
    if (faultAfter !== undefined) return await misbehave();

    // Everything is out: the bill is final before the closing events, so a test reading the
    // tally right after the SDK resolved never races the server.
    finished = true;
    billing.complete();
    if (!(await connection.pause(options.chunkDelayMs))) return;
    const usage = wireUsage(billing.full, 'delta', fault, tally, true);
    const delta = {
      stop_reason: plan.stopReason,
      stop_sequence: plan.stopSequence,
      stop_details: null,
      container: null,
    };
    if (!(await send('message_delta', { delta, ...(usage === undefined ? {} : { usage }) }))) {
      return;
    }
    if (!(await send('message_stop', {}))) return;
    sse.end();
  } finally {
    if (!finished) billing.ended(sent);
  }

  function record(block: PlannedBlock, tokens: number): void {
    sent.outputTokens += tokens;
    if (block.type === 'thinking') sent.thinkingTokens += tokens;
  }

  async function misbehave(): Promise<void> {
    if (fault?.kind === 'stream-error') {
      const body = anthropicErrorBody(529, exchange.requestId, {
        type: fault.type ?? 'overloaded_error',
        message: fault.message,
      });
      await sse.send({ type: 'error', error: body.error }, 'error');
      sse.end();
      return;
    }
    connection.cut();
  }
}

/** A block as `content_block_start` announces it: empty, to be filled by deltas. */
function startOf(block: PlannedBlock, exchange: AnthropicExchange): Record<string, unknown> {
  switch (block.type) {
    case 'thinking':
      return { type: 'thinking', thinking: '', signature: '' };
    case 'text':
      return { type: 'text', text: '', citations: null };
    case 'tool_use':
      return {
        type: 'tool_use',
        id: exchange.ids.next('toolu_fake_'),
        name: block.name,
        input: {},
        caller: { type: 'direct' },
      };
  }
}

/** The content deltas of a block, and the tokens its `signature_delta` carries (omitted thinking). */
function deltasOf(
  block: PlannedBlock,
  tokensPerChunk: number,
  count: (text: string) => number,
): { content: Delta[]; onSignature: number } {
  if (block.type === 'tool_use') {
    return { content: splitJson(block.json, tokensPerChunk, block.tokens), onSignature: 0 };
  }
  if (block.type === 'thinking' && block.text === '') {
    return { content: [], onSignature: block.tokens };
  }
  return { content: splitText(block.text, tokensPerChunk, count, block.tokens), onSignature: 0 };
}

function wireDelta(block: PlannedBlock, delta: Delta): Record<string, unknown> {
  switch (block.type) {
    case 'thinking':
      return { type: 'thinking_delta', thinking: delta.text };
    case 'text':
      return { type: 'text_delta', text: delta.text };
    case 'tool_use':
      return { type: 'input_json_delta', partial_json: delta.text };
  }
}
