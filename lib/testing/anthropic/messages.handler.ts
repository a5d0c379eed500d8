import { invalidRequest } from './anthropic-error.factory.js';
import {
  RequestBilling,
  resolveModel,
  sendJson,
  type AnthropicExchange,
} from './anthropic-exchange.js';
import { sendErrorFault, streamErrorAsHttp } from './anthropic-fault.types.js';
import { wireUsage } from './anthropic-usage.reporter.js';
import { planReply, type PlannedBlock } from './claude-reply.planner.js';
import type { ResolvedModel } from './fake-anthropic.options.js';
import { streamMessage } from './message-stream.sender.js';
import { validateMessageRequest, type MessageRequest } from './message-request.validator.js';
import { counterFor, layoutPrompt, type PromptLayout } from './prompt.layout.js';

/** The message fields every response shares, streamed or not. */
export interface MessageHead {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
}

/**
 * `POST /v1/messages`, streamed or not: validates like the API, counts the input with the fake's
 * tokenizer, splits it with the prompt cache, plans the reply and bills it (see
 * {@link RequestBilling} for early endings).
 */
export function handleMessages(exchange: AnthropicExchange): () => Promise<void> {
  const request = validateMessageRequest(exchange.request.body, 'messages');
  const model = resolveModel(exchange, request.model);
  const layout = layoutPrompt(request, model);
  checkLimits(request, model, layout);
  const cache = exchange.cache.lookup(request.model, layout, model.minCacheableTokens);
  const plan = planReply({
    request,
    model,
    inputTokens: layout.totalTokens,
    headers: exchange.request.headers,
    toolCalls: exchange.options.toolCalls,
  });
  const billing = new RequestBilling(exchange, request.model, cache, {
    ...cache.usage,
    outputTokens: plan.outputTokens,
    thinkingTokens: plan.thinkingTokens,
  });
  const head: MessageHead = {
    id: exchange.ids.next('msg_fake_'),
    type: 'message',
    role: 'assistant',
    model: request.model,
  };
  if (request.stream) {
    return () => streamMessage(exchange, head, plan, billing, counterFor(model.tokenizer));
  }
  return async () => {
    const { fault, connection } = exchange;
    if (fault?.kind === 'stream-error') {
      return sendErrorFault(exchange.res, exchange.requestId, streamErrorAsHttp(fault));
    }
    if (fault?.kind === 'drop-after-billing') {
      billing.complete();
      return connection.cut();
    }
    const cut = fault?.kind === 'cut-stream' || fault?.kind === 'empty-stream';
    if (cut || connection.gone) {
      billing.ended(undefined);
      if (cut) connection.cut();
      return;
    }
    billing.complete();
    const usage = wireUsage(billing.full, 'message', fault, exchange.tally, true);
    sendJson(exchange, {
      ...head,
      content: plan.blocks.map((block) => wireBlock(block, exchange)),
      stop_reason: plan.stopReason,
      stop_sequence: plan.stopSequence,
      stop_details: null,
      container: null,
      diagnostics: null,
      ...(usage === undefined ? {} : { usage }),
    });
  };
}

/** A planned block as the API returns it in a `Message`. */
export function wireBlock(
  block: PlannedBlock,
  exchange: AnthropicExchange,
): Record<string, unknown> {
  switch (block.type) {
    case 'thinking':
      return { type: 'thinking', thinking: block.text, signature: block.signature };
    case 'text':
      return { type: 'text', text: block.text, citations: null };
    case 'tool_use':
      return {
        type: 'tool_use',
        id: exchange.ids.next('toolu_fake_'),
        name: block.name,
        input: block.input,
        caller: { type: 'direct' },
      };
  }
}

/** `max_tokens` within the model's output limit, and a prompt within its context window. */
function checkLimits(request: MessageRequest, model: ResolvedModel, layout: PromptLayout): void {
  const maxTokens = request.maxTokens ?? 0;
  if (maxTokens > model.maxOutputTokens) {
    throw invalidRequest(
      `max_tokens: ${maxTokens} > ${model.maxOutputTokens}, which is the maximum allowed number of output tokens for ${request.model}`,
    );
  }
  if (layout.totalTokens > model.contextWindow) {
    throw invalidRequest(
      `prompt is too long: ${layout.totalTokens} tokens > ${model.contextWindow} maximum`,
    );
  }
}
