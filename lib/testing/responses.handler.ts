import type OpenAI from 'openai';

import { countResponsesInput } from '../counting/index.js';
import type { BilledUsage } from './billing.tally.js';
import { resolveCachedTokens } from './cached-tokens.resolver.js';
import { invalidRequest } from './openai-error.factory.js';
import {
  isReasoningModel,
  MIN_OUTPUT_CAP,
  planReply,
  readOutputCap,
  replyText,
} from './reply.planner.js';
import {
  buildResponse,
  finalOutput,
  hasMessage,
  messageItem,
  outputText,
  reasoningItem,
  RESPONSES_USAGE,
  type ResponseIdentity,
} from './response-object.builder.js';
import { optionalArray, requireObjectBody, requireString } from './request-body.validator.js';
import { nowSeconds, reportedModel, sendJson, type RouteContext } from './route.context.js';
import { SseWriter } from './sse.writer.js';
import { forcedToolCall, planToolReply } from './tool-call.planner.js';
import { reportUsage } from './usage.reporter.js';

/** A stream event before the writer numbers it. */
type UnnumberedEvent<E = OpenAI.Responses.ResponseStreamEvent> = E extends unknown
  ? Omit<E, 'sequence_number'>
  : never;

/**
 * `POST /v1/responses`, streamed or not. Input tokens are counted with Tokencap's own
 * `countResponsesInput`; the reply follows `planReply` with `max_output_tokens` as the cap. A
 * truncated reply ends `incomplete` with `incomplete_details.reason = 'max_output_tokens'`.
 */
export async function handleResponses(ctx: RouteContext): Promise<void> {
  const body = requireObjectBody(ctx.request.body);
  const model = requireString(body, 'model');
  const input = body.input;
  if (typeof input !== 'string' && !Array.isArray(input)) {
    throw invalidRequest(`Missing required parameter: 'input'.`, 'input');
  }
  const instructions = typeof body.instructions === 'string' ? body.instructions : undefined;
  const tools = optionalArray(body, 'tools');

  const promptTokens = countInput({
    model,
    input,
    instructions,
    tools,
    text: body.text,
    prompt: body.prompt,
  });
  const items = typeof input === 'string' ? [input] : input;
  const cachedTokens = resolveCachedTokens(
    ctx,
    model,
    [tools, (body.text as { format?: unknown } | undefined)?.format, instructions, ...items],
    promptTokens,
  );
  const cap = readOutputCap(body, ['max_output_tokens'], MIN_OUTPUT_CAP.responses);
  let plan = planReply({
    model,
    headers: ctx.request.headers,
    cap,
    defaultReplyTokens: ctx.options.replyTokens,
    defaultReasoningTokens: ctx.options.reasoningTokens,
  });
  // A forced tool choice is answered with a function call and no message.
  const forced = forcedToolCall(body, model, 'responses');
  const tool = forced && planToolReply(plan, forced, cap);
  if (tool) plan = { ...plan, contentTokens: 0, truncated: tool.truncated };
  const toolTokens = tool?.tokens ?? 0;
  const identity: ResponseIdentity = {
    id: ctx.ids.next('resp_fake_'),
    messageId: ctx.ids.next('msg_fake_'),
    reasoningId: isReasoningModel(model) ? ctx.ids.next('rs_fake_') : undefined,
    createdAt: nowSeconds(ctx),
    model: reportedModel(ctx, model),
  };
  const finalStatus = plan.truncated ? 'incomplete' : 'completed';
  const callItem: OpenAI.Responses.ResponseFunctionToolCall | undefined = tool?.call && {
    type: 'function_call',
    id: ctx.ids.next('fc_fake_'),
    call_id: ctx.ids.next('call_fake_'),
    name: tool.call.name,
    arguments: tool.call.arguments,
    status: 'completed',
  };
  const output = () =>
    tool
      ? [
          ...(identity.reasoningId !== undefined ? [reasoningItem(identity)] : []),
          ...(callItem ? [callItem] : []),
        ]
      : finalOutput(identity, plan, ctx.options.replyStyle);

  if (body.stream !== true) {
    if (ctx.connection.gone) return;
    const billed: BilledUsage = {
      promptTokens,
      completionTokens: plan.reasoningTokens + plan.contentTokens + toolTokens,
      cachedTokens,
      reasoningTokens: plan.reasoningTokens,
    };
    ctx.tally.bill(model, billed);
    const response = buildResponse(identity, body, {
      status: finalStatus,
      output: output(),
      usage: reportUsage(billed, ctx.fault, ctx.tally, RESPONSES_USAGE),
      completedAt: nowSeconds(ctx),
    });
    sendJson(ctx, 200, response);
    return;
  }

  const { connection, options, fault } = ctx;
  if (connection.gone) return;
  const sse = new SseWriter(connection, ctx.requestId);
  let sequence = 0;
  const emit = (event: UnnumberedEvent) =>
    sse.send({ ...event, sequence_number: sequence++ }, event.type);
  const snapshot = (status: 'in_progress' | 'completed' | 'incomplete', usage: unknown) =>
    buildResponse(identity, body, {
      status,
      output: status === 'in_progress' ? [] : output(),
      usage,
      completedAt: status === 'in_progress' ? null : nowSeconds(ctx),
    }) as unknown as OpenAI.Responses.Response;

  // Same billing rule as chat streams: prompt and reasoning are owed from the first byte, content
  // per delta actually written.
  let contentSent = 0;
  let billed = false;
  const settleBill = () => {
    if (billed) return;
    billed = true;
    ctx.tally.bill(model, billedSoFar());
  };
  if (fault?.kind === 'drop-after-billing') {
    settleBill();
    return connection.cut();
  }
  sse.open();
  try {
    if (fault?.kind === 'empty-stream') return connection.cut();
    if (!(await emit({ type: 'response.created', response: snapshot('in_progress', null) })))
      return;
    if (!(await emit({ type: 'response.in_progress', response: snapshot('in_progress', null) }))) {
      return;
    }
    let outputIndex = 0;
    if (identity.reasoningId !== undefined) {
      const item = reasoningItem(identity);
      const added = {
        type: 'response.output_item.added',
        output_index: outputIndex,
        item,
      } as const;
      if (!(await emit(added))) return;
      if (!(await emit({ ...added, type: 'response.output_item.done' }))) return;
      outputIndex += 1;
    }
    const cutAfter = fault?.kind === 'cut-stream' ? fault.afterChunks : undefined;
    if (tool) {
      if (callItem) {
        const where = { item_id: callItem.id!, output_index: outputIndex };
        const started = { ...callItem, arguments: '', status: 'in_progress' as const };
        if (
          !(await emit({
            type: 'response.output_item.added',
            output_index: outputIndex,
            item: started,
          }))
        ) {
          return;
        }
        if (!(await connection.pause(options.chunkDelayMs))) return;
        const delta = callItem.arguments;
        if (!(await emit({ type: 'response.function_call_arguments.delta', ...where, delta })))
          return;
        contentSent += toolTokens;
        const done = { type: 'response.function_call_arguments.done' as const, ...where };
        if (!(await emit({ ...done, name: callItem.name, arguments: delta }))) return;
        if (
          !(await emit({
            type: 'response.output_item.done',
            output_index: outputIndex,
            item: callItem,
          }))
        ) {
          return;
        }
      } else {
        contentSent += toolTokens;
      }
      if (cutAfter !== undefined) return connection.cut();
    } else if (hasMessage(plan)) {
      const where = { item_id: identity.messageId, output_index: outputIndex, content_index: 0 };
      const item = messageItem(identity, undefined, 'in_progress');
      if (!(await emit({ type: 'response.output_item.added', output_index: outputIndex, item }))) {
        return;
      }
      if (!(await emit({ type: 'response.content_part.added', ...where, part: outputText('') }))) {
        return;
      }
      let deltas = 0;
      while (contentSent < plan.contentTokens) {
        if (cutAfter !== undefined && deltas >= cutAfter) return connection.cut();
        if (!(await connection.pause(options.chunkDelayMs))) return;
        const size = Math.min(options.tokensPerChunk, plan.contentTokens - contentSent);
        const delta = replyText(size, options.replyStyle, contentSent);
        if (!(await emit({ type: 'response.output_text.delta', ...where, delta, logprobs: [] }))) {
          return;
        }
        contentSent += size;
        deltas += 1;
      }
      if (cutAfter !== undefined) return connection.cut();
      const text = replyText(plan.contentTokens, options.replyStyle);
      if (!(await emit({ type: 'response.output_text.done', ...where, text, logprobs: [] }))) {
        return;
      }
      if (!(await emit({ type: 'response.content_part.done', ...where, part: outputText(text) }))) {
        return;
      }
      const done = messageItem(identity, text, finalStatus);
      const event = { type: 'response.output_item.done' as const, output_index: outputIndex };
      if (!(await emit({ ...event, item: done }))) return;
    } else if (cutAfter !== undefined) {
      return connection.cut();
    }
    // All content is out, so the bill is final; settling it before the final event means a test
    // reading `tally` right after the client saw `response.completed` never races the server.
    settleBill();
    if (!(await connection.pause(options.chunkDelayMs))) return;
    const usage = reportUsage(billedSoFar(), fault, ctx.tally, RESPONSES_USAGE);
    const type = plan.truncated ? 'response.incomplete' : 'response.completed';
    if (!(await emit({ type, response: snapshot(finalStatus, usage) }))) return;
    sse.end();
  } finally {
    settleBill();
  }

  function billedSoFar(): BilledUsage {
    return {
      promptTokens,
      completionTokens: plan.reasoningTokens + contentSent,
      cachedTokens,
      reasoningTokens: plan.reasoningTokens,
    };
  }
}

function countInput(request: Record<string, unknown>): number {
  try {
    return countResponsesInput(request as unknown as Parameters<typeof countResponsesInput>[0]);
  } catch (error) {
    throw invalidRequest(`Invalid 'input': ${(error as Error).message}`, 'input');
  }
}
