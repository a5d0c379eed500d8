import type { CountContext } from './count-context.interface.js';
import { countContent, countIfString as text } from './message-content.formula.js';
import { isObject } from './object.guard.js';
import type { ResponsesTokenRequest } from './responses-request.types.js';
import { countJsonText } from './json-text.counter.js';
import { countResponseFormat } from './response-format.formula.js';
import { schemaContext } from './schema-text.budget.js';
import { countToolDefinitions } from './tool-definitions.formula.js';

// Same framing as the Chat formula: OpenAI publishes no Responses-specific figures, and both
// APIs render to the same conversation format.
const TOKENS_PER_ITEM = 3;
const REPLY_PRIMING = 3;

/**
 * Estimated input tokens of a Responses request, using the Chat formula's shape: each item is
 * a framed block (3 tokens) holding its strings. `instructions` and a string `input` count as a
 * developer and a user message. Messages count role + content (see {@link countContent});
 * function and custom tool calls count call id, name and arguments/input; their outputs the
 * call id and output; reasoning items their summary text (encrypted content is opaque and not
 * counted); `item_reference` 0, since the referenced item is stored server-side; any other
 * item type (built-in tool calls) every key and value it holds ({@link countJsonText}). Tools
 * count as in Chat ({@link countToolDefinitions}), `text.format` as a response format
 * ({@link countResponseFormat}), a stored `prompt`'s variables as message content.
 *
 * This is an estimate of the same formula shape, not a published rule: the caller should
 * reconcile it with the `usage.input_tokens` the API reports.
 */
export function countResponsesPrompt(request: ResponsesTokenRequest, ctx: CountContext): number {
  if (!isObject(request)) return REPLY_PRIMING;
  const schemas = schemaContext(ctx);
  let total = REPLY_PRIMING;
  if (typeof request.instructions === 'string') {
    total += TOKENS_PER_ITEM + ctx.text('developer') + ctx.text(request.instructions);
  }
  if (typeof request.input === 'string') {
    total += TOKENS_PER_ITEM + ctx.text('user') + ctx.text(request.input);
  } else if (Array.isArray(request.input)) {
    for (const item of request.input) total += countItem(item, ctx, schemas);
  }
  total += countPromptVariables(request.prompt, ctx);
  total += countToolDefinitions(request.tools, schemas);
  return (
    total + countResponseFormat(isObject(request.text) ? request.text.format : undefined, schemas)
  );
}

// A stored prompt's variables are substituted into its text: strings or input parts.
function countPromptVariables(prompt: unknown, ctx: CountContext): number {
  const variables = isObject(prompt) && isObject(prompt.variables) ? prompt.variables : undefined;
  if (variables === undefined) return 0;
  return countContent(Object.values(variables), ctx);
}

function countItem(item: unknown, ctx: CountContext, schemas: CountContext): number {
  if (!isObject(item)) return 0;
  // `type` is optional on messages and nullable on item references (`{ id, type: null }`).
  const type =
    item.type ?? (item.role === undefined && item.id !== undefined ? 'item_reference' : 'message');
  switch (type) {
    case 'message':
      return TOKENS_PER_ITEM + text(item.role, ctx) + countContent(item.content, ctx);
    case 'function_call':
    case 'custom_tool_call':
      return (
        TOKENS_PER_ITEM +
        text(item.call_id, ctx) +
        text(item.name, ctx) +
        text(item.arguments, ctx) +
        text(item.input, ctx)
      );
    case 'function_call_output':
    case 'custom_tool_call_output':
      return TOKENS_PER_ITEM + text(item.call_id, ctx) + countContent(item.output, ctx);
    case 'reasoning':
      return TOKENS_PER_ITEM + countContent(item.summary, ctx) + countContent(item.content, ctx);
    case 'item_reference':
      return 0;
    default:
      return TOKENS_PER_ITEM + countJsonText(item, schemas.text);
  }
}
