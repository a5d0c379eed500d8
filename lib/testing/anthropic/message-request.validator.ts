import { invalidRequest } from './anthropic-error.factory.js';
import {
  cacheControl,
  contentBlock,
  fieldError,
  join,
  noExtraKeys,
  object,
  string,
  textBlock,
  type CacheControl,
  type JsonObject,
  type Role,
} from './content-block.validator.js';
import {
  thinking as readThinking,
  toolChoice as readToolChoice,
  tools as readTools,
  type Thinking,
  type ToolChoice,
  type ToolDefinition,
} from './request-options.validator.js';

/** One entry of `messages`, its content normalized to blocks (a string is one text block). */
export interface RequestMessage {
  role: Role;
  blocks: JsonObject[];
}

/** A request body that passed the API's checks (before the model-specific ones). */
export interface MessageRequest {
  model: string;
  /** `undefined` on `count_tokens`, which takes no `max_tokens`. */
  maxTokens: number | undefined;
  /** The `system` parameter as text blocks. */
  system: JsonObject[];
  messages: RequestMessage[];
  tools: ToolDefinition[];
  toolChoice: ToolChoice;
  thinking: Thinking;
  stopSequences: string[];
  stream: boolean;
  /** Top-level `cache_control`: a breakpoint on the last cacheable block (automatic caching). */
  autoCache: CacheControl | undefined;
  /** `output_config.format` (structured outputs): its schema is billed as input. */
  outputFormat: JsonObject | undefined;
}

/** The endpoint whose body rules apply. */
export type Endpoint = 'messages' | 'count_tokens';

const MESSAGES_KEYS = [
  'model',
  'max_tokens',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'stop_sequences',
  'stream',
  'metadata',
  'temperature',
  'top_p',
  'top_k',
  'service_tier',
  'cache_control',
  'container',
  'diagnostics',
  'inference_geo',
  'output_config',
  'speed',
];
const COUNT_TOKENS_KEYS = [
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'cache_control',
  'output_config',
  'speed',
];

/**
 * Validates a `/v1/messages` or `/v1/messages/count_tokens` body as the API does: required fields,
 * types and ranges, unknown keys, content blocks per role, `tool_use` / `tool_result` pairing and
 * the thinking constraints. Consecutive messages of one role are accepted (the API merges them
 * into one turn). Model-dependent limits are checked later, once the model is known.
 * @throws AnthropicHttpError 400 `invalid_request_error` naming the offending field.
 */
export function validateMessageRequest(body: unknown, endpoint: Endpoint): MessageRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest('The request body must be a JSON object.');
  }
  const b = body as JsonObject;
  noExtraKeys(b, endpoint === 'messages' ? MESSAGES_KEYS : COUNT_TOKENS_KEYS, '');
  const model = string(b.model, 'model');
  const maxTokens = endpoint === 'messages' ? readMaxTokens(b.max_tokens) : undefined;
  const messages = readMessages(b.messages);
  const system = readSystem(b.system);
  const tools = readTools(b.tools);
  const toolChoice = readToolChoice(b.tool_choice, tools);
  const thinking = readThinking(b.thinking, maxTokens);
  if (thinking.type !== 'off' && (toolChoice.type === 'any' || toolChoice.type === 'tool')) {
    throw invalidRequest('Thinking may not be enabled when tool_choice forces tool use.');
  }
  if (endpoint === 'messages') checkSampling(b, thinking);
  if (endpoint === 'messages') readMetadata(b.metadata);
  if (
    b.service_tier !== undefined &&
    b.service_tier !== 'auto' &&
    b.service_tier !== 'standard_only'
  ) {
    fieldError('service_tier', "Input should be 'auto' or 'standard_only'");
  }
  if (b.stream !== undefined && typeof b.stream !== 'boolean') {
    fieldError('stream', 'Input should be a valid boolean');
  }
  return {
    model,
    maxTokens,
    system,
    messages,
    tools,
    toolChoice,
    thinking,
    stopSequences: endpoint === 'messages' ? readStopSequences(b.stop_sequences) : [],
    stream: b.stream === true,
    autoCache: cacheControl(b.cache_control, 'cache_control'),
    outputFormat: readOutputFormat(b.output_config),
  };
}

function readOutputFormat(value: unknown): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  const format = object(value, 'output_config').format;
  return format === undefined || format === null
    ? undefined
    : object(format, 'output_config.format');
}

function readMaxTokens(value: unknown): number {
  if (value === undefined) fieldError('max_tokens', 'Field required');
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    fieldError('max_tokens', 'Input should be a valid integer');
  }
  // 0 is valid: it populates the prompt cache without generating anything.
  if (value < 0) fieldError('max_tokens', 'Input should be greater than or equal to 0');
  return value;
}

function readSystem(value: unknown): JsonObject[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : [{ type: 'text', text: value }];
  if (!Array.isArray(value)) fieldError('system', 'Input should be a valid string or list');
  return value.map((item, i) => {
    const block = object(item, `system.${i}`);
    if (block.type !== 'text') fieldError(`system.${i}.type`, "Input should be 'text'");
    textBlock(block, `system.${i}`);
    cacheControl(block.cache_control, `system.${i}.cache_control`);
    return block;
  });
}

function readMessages(value: unknown): RequestMessage[] {
  if (value === undefined) fieldError('messages', 'Field required');
  if (!Array.isArray(value)) fieldError('messages', 'Input should be a valid list');
  if (value.length === 0) fieldError('messages', 'at least one message is required');
  const messages = value.map((item, i): RequestMessage => {
    const path = `messages.${i}`;
    const message = object(item, path);
    noExtraKeys(message, ['role', 'content'], path);
    const role = message.role;
    if (role !== 'user' && role !== 'assistant' && role !== 'system') {
      fieldError(join(path, 'role'), "Input should be 'user', 'assistant' or 'system'");
    }
    const content = message.content;
    if (content === undefined) fieldError(join(path, 'content'), 'Field required');
    const isFinalAssistant = role === 'assistant' && i === value.length - 1;
    if (content === '' || (Array.isArray(content) && content.length === 0)) {
      if (!isFinalAssistant) {
        fieldError(
          path,
          'all messages must have non-empty content except for the optional final assistant message',
        );
      }
      return { role, blocks: [] };
    }
    if (typeof content === 'string') return { role, blocks: [{ type: 'text', text: content }] };
    if (!Array.isArray(content))
      fieldError(join(path, 'content'), 'Input should be a valid string or list');
    const blocks = content.map((block, j) => contentBlock(block, role, `${path}.content.${j}`));
    return { role, blocks };
  });
  checkPrefill(messages);
  checkToolPairing(messages);
  return messages;
}

/** A final assistant turn is a prefill; the API refuses one that ends with whitespace. */
function checkPrefill(messages: readonly RequestMessage[]): void {
  const last = messages.at(-1)!;
  if (last.role !== 'assistant') return;
  const block = last.blocks.at(-1);
  if (block?.type === 'text' && /\s$/.test(block.text as string)) {
    throw invalidRequest('messages: final assistant content cannot end with trailing whitespace');
  }
}

/**
 * Every `tool_use` needs a `tool_result` in the next user turn, every `tool_result` a `tool_use` in
 * the previous assistant turn, and a user turn lists its tool results before anything else.
 * Consecutive messages of one role form one turn; `system` messages are not turns.
 */
function checkToolPairing(messages: readonly RequestMessage[]): void {
  const turns: Array<{ role: Role; index: number; blocks: JsonObject[] }> = [];
  messages.forEach((m, index) => {
    if (m.role === 'system') return;
    const previous = turns.at(-1);
    if (previous && previous.role === m.role) previous.blocks.push(...m.blocks);
    else turns.push({ role: m.role, index, blocks: [...m.blocks] });
  });
  turns.forEach((turn, t) => {
    if (turn.role === 'user') {
      const firstOther = turn.blocks.findIndex((b) => b.type !== 'tool_result');
      const lastResult = turn.blocks.findLastIndex((b) => b.type === 'tool_result');
      if (firstOther !== -1 && lastResult > firstOther) {
        throw invalidRequest(
          `messages.${turn.index}: \`tool_result\` blocks must come first in the content of a user message, before any other block`,
        );
      }
      const offered = new Set(
        (turns[t - 1]?.blocks ?? []).filter((b) => b.type === 'tool_use').map((b) => b.id),
      );
      const orphan = turn.blocks.find(
        (b) => b.type === 'tool_result' && !offered.has(b.tool_use_id),
      );
      if (orphan) {
        throw invalidRequest(
          `messages.${turn.index}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(orphan.tool_use_id).slice(0, 64)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        );
      }
      return;
    }
    const next = turns[t + 1];
    if (!next) return;
    const answered = new Set(
      next.blocks.filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id),
    );
    const missing = turn.blocks
      .filter((b) => b.type === 'tool_use' && !answered.has(b.id))
      .map((b) => String(b.id).slice(0, 64));
    if (missing.length > 0) {
      throw invalidRequest(
        `messages.${next.index}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
      );
    }
  });
}

function checkSampling(b: JsonObject, thinking: Thinking): void {
  for (const field of ['temperature', 'top_p'] as const) {
    const value = b[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || Number.isNaN(value))
      fieldError(field, 'Input should be a valid number');
    if (value < 0 || value > 1) fieldError(field, 'Input should be between 0 and 1');
  }
  if (b.top_k !== undefined && b.top_k !== null) {
    if (typeof b.top_k !== 'number' || !Number.isSafeInteger(b.top_k)) {
      fieldError('top_k', 'Input should be a valid integer');
    }
    if (b.top_k < 0) fieldError('top_k', 'Input should be greater than or equal to 0');
  }
  if (thinking.type === 'off') return;
  if (b.temperature !== undefined && b.temperature !== null && b.temperature !== 1) {
    throw invalidRequest('`temperature` may only be set to 1 when thinking is enabled.');
  }
  if (b.top_k !== undefined && b.top_k !== null) {
    throw invalidRequest('`top_k` is not supported when thinking is enabled.');
  }
}

function readMetadata(value: unknown): void {
  if (value === undefined) return;
  const metadata = object(value, 'metadata');
  noExtraKeys(metadata, ['user_id'], 'metadata');
  const userId = metadata.user_id;
  if (userId === undefined || userId === null) return;
  if (typeof userId !== 'string') fieldError('metadata.user_id', 'Input should be a valid string');
  if (userId.length > 256)
    fieldError('metadata.user_id', 'String should have at most 256 characters');
}

function readStopSequences(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fieldError('stop_sequences', 'Input should be a valid list');
  return value.map((item, i) => {
    const sequence = string(item, `stop_sequences.${i}`);
    if (sequence.trim() === '') {
      fieldError(`stop_sequences.${i}`, 'stop sequences must contain non-whitespace');
    }
    return sequence;
  });
}
