import type OpenAI from 'openai';

import { countChatTokens } from '../counting/index.js';
import type { BilledUsage } from './billing.tally.js';
import { FakeHttpError, invalidRequest } from './openai-error.factory.js';
import { resolveCachedTokens } from './cached-tokens.resolver.js';
import {
  isReasoningModel,
  MIN_OUTPUT_CAP,
  planReply,
  readOutputCap,
  replyText,
} from './reply.planner.js';
import {
  optionalArray,
  optionalInteger,
  optionalObject,
  requireArray,
  requireObjectBody,
  requireString,
} from './request-body.validator.js';
import { nowSeconds, reportedModel, sendJson, type RouteContext } from './route.context.js';
import { SseWriter } from './sse.writer.js';
import { forcedToolCall, planToolReply } from './tool-call.planner.js';
import { reportUsage, type ReportedUsage, type UsageFormat } from './usage.reporter.js';

const SYSTEM_FINGERPRINT = 'fp_fake';

/** Chat Completions usage, including the detail objects SDK users read cached/reasoning from. */
const CHAT_USAGE: UsageFormat<OpenAI.CompletionUsage> = {
  format: (u: ReportedUsage) => ({
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: u.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  }),
  malformed: { prompt_tokens: null, completion_tokens: 'twelve', total_tokens: -1 },
};

/**
 * `POST /v1/chat/completions`, streamed or not. Prompt tokens are counted with Tokencap's own
 * `countChatTokens` (the API's rules); the reply follows `planReply`; `n` choices are supported
 * and each is billed.
 */
export async function handleChatCompletions(ctx: RouteContext): Promise<void> {
  const body = requireObjectBody(ctx.request.body);
  const model = requireString(body, 'model');
  const messages = requireArray(body, 'messages');
  const tools = optionalArray(body, 'tools');
  const n = readChoiceCount(body);
  const stream = body.stream === true;
  const includeUsage = stream && optionalObject(body, 'stream_options')?.include_usage === true;

  const promptTokens = countPrompt({
    model,
    messages,
    tools,
    functions: body.functions,
    response_format: body.response_format,
  });
  const cachedTokens = resolveCachedTokens(
    ctx,
    model,
    [tools, body.response_format ?? undefined, ...messages],
    promptTokens,
  );
  const cap = readOutputCap(body, ['max_completion_tokens', 'max_tokens'], MIN_OUTPUT_CAP.chat);
  refuseCapCombination(body, model);
  let plan = planReply({
    model,
    headers: ctx.request.headers,
    cap,
    defaultReplyTokens: ctx.options.replyTokens,
    defaultReasoningTokens: ctx.options.reasoningTokens,
  });
  // A forced tool choice is answered with a call (and no text) on every choice.
  const forced = forcedToolCall(body, model, 'chat');
  const tool = forced && planToolReply(plan, forced, cap);
  if (tool) plan = { ...plan, contentTokens: 0, truncated: tool.truncated };
  const toolTokens = tool?.tokens ?? 0;
  const toolCall = (index: number) =>
    tool?.call && {
      index: 0,
      id: `call_fake_${index}_${head.id.slice(-8)}`,
      type: 'function' as const,
      function: { name: tool.call.name, arguments: tool.call.arguments },
    };
  const finishReason: 'stop' | 'length' | 'tool_calls' = plan.truncated
    ? 'length'
    : tool?.call
      ? 'tool_calls'
      : 'stop';
  const head = {
    id: ctx.ids.next('chatcmpl-fake-'),
    created: nowSeconds(ctx),
    model: reportedModel(ctx, model),
    service_tier: 'default' as const,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };

  if (!stream) {
    if (ctx.connection.gone) return;
    const billed: BilledUsage = {
      promptTokens,
      completionTokens: n * (plan.reasoningTokens + plan.contentTokens + toolTokens),
      cachedTokens,
      reasoningTokens: n * plan.reasoningTokens,
    };
    ctx.tally.bill(model, billed);
    const usage = reportUsage(billed, ctx.fault, ctx.tally, CHAT_USAGE);
    const content = replyText(plan.contentTokens, ctx.options.replyStyle);
    const completion = {
      ...head,
      object: 'chat.completion',
      choices: Array.from({ length: n }, (_, index) => ({
        index,
        message: tool
          ? {
              role: 'assistant' as const,
              content: null,
              refusal: null,
              annotations: [],
              ...(tool.call && { tool_calls: [{ ...toolCall(index)!, index: undefined }] }),
            }
          : { role: 'assistant' as const, content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: finishReason,
      })),
      ...(usage === undefined ? {} : { usage: usage as OpenAI.CompletionUsage }),
    } satisfies OpenAI.ChatCompletion;
    sendJson(ctx, 200, completion);
    return;
  }

  const { connection, options, fault } = ctx;
  if (connection.gone) return;
  const sse = new SseWriter(connection, ctx.requestId);
  const chunk = (choices: OpenAI.ChatCompletionChunk.Choice[]) =>
    ({
      ...head,
      object: 'chat.completion.chunk',
      choices,
      // The API adds `usage: null` to every chunk once include_usage is on.
      ...(includeUsage ? { usage: null } : {}),
    }) satisfies OpenAI.ChatCompletionChunk;

  // Billing starts with the first byte: the model has read the prompt and done its reasoning
  // before the first chunk, so those are owed even if the client leaves right away. Content is
  // owed per chunk actually written, like a provider billing the tokens it generated.
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
    for (let index = 0; index < n; index++) {
      const first = { index, delta: { role: 'assistant' as const, content: '', refusal: null } };
      if (!(await sse.send(chunk([{ ...first, logprobs: null, finish_reason: null }])))) return;
    }
    const cutAfter = fault?.kind === 'cut-stream' ? fault.afterChunks : undefined;
    let chunksSent = 0;
    for (let remaining = plan.contentTokens; remaining > 0;) {
      const size = Math.min(options.tokensPerChunk, remaining);
      for (let index = 0; index < n; index++) {
        if (cutAfter !== undefined && chunksSent >= cutAfter) return connection.cut();
        if (!(await connection.pause(options.chunkDelayMs))) return;
        const delta = {
          content: replyText(size, options.replyStyle, plan.contentTokens - remaining),
        };
        if (!(await sse.send(chunk([{ index, delta, logprobs: null, finish_reason: null }]))))
          return;
        contentSent += size;
        chunksSent += 1;
      }
      remaining -= size;
    }
    if (tool) {
      for (let index = 0; index < n; index++) {
        if (!(await connection.pause(options.chunkDelayMs))) return;
        const call = toolCall(index);
        const delta = call ? { tool_calls: [call] } : {};
        if (!(await sse.send(chunk([{ index, delta, logprobs: null, finish_reason: null }]))))
          return;
        contentSent += toolTokens;
      }
    }
    if (cutAfter !== undefined) return connection.cut();
    // All content is out, so the bill is final. Settling it before the closing chunks means a test
    // that reads `tally` right after the client saw [DONE] never races the server.
    settleBill();
    if (!(await connection.pause(options.chunkDelayMs))) return;
    const finals = Array.from({ length: n }, (_, index) => ({
      index,
      delta: {},
      logprobs: null,
      finish_reason: finishReason,
    }));
    if (!(await sse.send(chunk(finals)))) return;
    if (includeUsage) {
      const usage = reportUsage(billedSoFar(), fault, ctx.tally, CHAT_USAGE);
      if (usage !== undefined && !(await sse.send({ ...chunk([]), usage }))) return;
    }
    if (!(await sse.done())) return;
    sse.end();
  } finally {
    settleBill();
  }

  function billedSoFar(): BilledUsage {
    return {
      promptTokens,
      completionTokens: n * plan.reasoningTokens + contentSent,
      cachedTokens,
      reasoningTokens: n * plan.reasoningTokens,
    };
  }
}

function readChoiceCount(body: Record<string, unknown>): number {
  return optionalInteger(body, 'n', { min: 1, max: 128 }) ?? 1;
}

function countPrompt(request: Record<string, unknown>): number {
  try {
    return countChatTokens(request as unknown as Parameters<typeof countChatTokens>[0]);
  } catch (error) {
    throw invalidRequest(`Invalid 'messages': ${(error as Error).message}`, 'messages');
  }
}

/**
 * The API's 400s for the output cap fields: both at once, and `max_tokens` on a reasoning model
 * (o-series, gpt-5), which takes only `max_completion_tokens`.
 */
function refuseCapCombination(body: Record<string, unknown>, model: string): void {
  if (body.max_tokens == null) return;
  if (body.max_completion_tokens != null) {
    throw new FakeHttpError(400, {
      message:
        "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
      type: 'invalid_request_error',
      param: 'max_tokens',
      code: 'invalid_parameter_combination',
    });
  }
  if (isReasoningModel(model)) {
    throw new FakeHttpError(400, {
      message:
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      type: 'invalid_request_error',
      param: 'max_tokens',
      code: 'unsupported_parameter',
    });
  }
}
