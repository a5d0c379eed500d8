import type { CountContext } from './count-context.interface.js';
import type { ChatTokenRequest } from './chat-request.types.js';
import { countContent, countIfString as text } from './message-content.formula.js';
import { isObject } from './object.guard.js';
import { countResponseFormat } from './response-format.formula.js';
import { schemaContext } from './schema-text.budget.js';
import { countToolDefinitions } from './tool-definitions.formula.js';

// The OpenAI cookbook's `num_tokens_from_messages` constants ("How to count tokens with
// tiktoken", section 6), identical for every model it lists (gpt-3.5-turbo-0125 to gpt-4o):
// each message is framed as <|start|>{role}<|message|>{content}<|end|>, a name costs one more
// token, and the reply is primed with <|start|>assistant<|message|>.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

/**
 * Prompt tokens of a Chat Completions request by the cookbook's formula: per message 3 + the
 * role + every string field, +1 with a `name`; 3 for reply priming; plus the tool definitions
 * ({@link countToolDefinitions}: the cookbook's formula and every string it leaves out) and a
 * structured-output `response_format` ({@link countResponseFormat}). Deprecated `functions` count
 * as the tools they stand for when `tools` is absent.
 *
 * Shapes the cookbook does not cover, counted by its "encode every string value" rule:
 * array `content` counts each text and refusal part, each image part as `ctx.imageTokens`,
 * audio and file parts as 0; assistant `tool_calls` count 3 + id + name + arguments per call;
 * `tool_call_id` and legacy `function_call` count their strings. Never throws: malformed
 * entries count what is recognisable.
 */
export function countChatPrompt(request: ChatTokenRequest, ctx: CountContext): number {
  if (!isObject(request)) return REPLY_PRIMING;
  const messages: readonly unknown[] = Array.isArray(request.messages) ? request.messages : [];
  let total = REPLY_PRIMING;
  for (const message of messages) total += countMessage(message, ctx);
  const tools = request.tools ?? legacyFunctions(request.functions);
  const format = request.response_format;
  // Most requests have neither: no schema budget to set up (both formulas count them as 0).
  if ((!Array.isArray(tools) || tools.length === 0) && (format === undefined || format === null)) {
    return total;
  }
  const schemas = schemaContext(ctx);
  total += countToolDefinitions(tools, schemas);
  return total + countResponseFormat(format, schemas);
}

/** Deprecated `functions: [{ name, description, parameters }]` as the tools they stand for. */
function legacyFunctions(functions: unknown): unknown {
  if (!Array.isArray(functions)) return undefined;
  return functions.map((fn: unknown) => ({ type: 'function', function: fn }));
}

function countMessage(message: unknown, ctx: CountContext): number {
  if (!isObject(message)) return 0;
  let total = TOKENS_PER_MESSAGE + text(message.role, ctx);
  total += countContent(message.content, ctx);
  if (typeof message.name === 'string') total += ctx.text(message.name) + TOKENS_PER_NAME;
  total += text(message.refusal, ctx) + text(message.tool_call_id, ctx);
  if (isObject(message.function_call)) {
    total += text(message.function_call.name, ctx) + text(message.function_call.arguments, ctx);
  }
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) total += countToolCall(call, ctx);
  }
  return total;
}

function countToolCall(call: unknown, ctx: CountContext): number {
  if (!isObject(call)) return 0;
  // Each call is rendered as its own framed block addressed to the function.
  let total = TOKENS_PER_MESSAGE + text(call.id, ctx);
  const body = isObject(call.function)
    ? call.function
    : isObject(call.custom)
      ? call.custom
      : undefined;
  if (body !== undefined) {
    total += text(body.name, ctx) + text(body.arguments, ctx) + text(body.input, ctx);
  }
  return total;
}
