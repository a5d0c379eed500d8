import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

import { readTokenHeader, REPLY_TOKENS_HEADER } from '../reply.planner.js';
import type { MessageRequest } from './message-request.validator.js';
import type { ResolvedModel } from './fake-anthropic.options.js';
import { counterFor, toolUseTokens } from './prompt.layout.js';
import { generateProse, seedOf } from './prose.generator.js';
import type { ToolDefinition } from './request-options.validator.js';
import { generateToolInput } from './tool-input.generator.js';

/** Header setting the thinking tokens of one request (before `budget_tokens` and `max_tokens`). */
export const THINKING_TOKENS_HEADER = 'x-fake-thinking-tokens';

/** Longest text the fake writes before a tool call it was not forced to make. */
const TOOL_LEAD_IN_TOKENS = 12;

/** Why generation stopped, as `stop_reason` reports it. */
export type StopReason =
  'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'model_context_window_exceeded';

/** A content block of the reply, with the output tokens it costs. */
export type PlannedBlock =
  | { type: 'thinking'; text: string; signature: string; tokens: number }
  | { type: 'text'; text: string; tokens: number }
  | {
      type: 'tool_use';
      name: string;
      input: Record<string, unknown>;
      json: string;
      tokens: number;
    };

/** The whole reply, decided before the first byte is sent. */
export interface ReplyPlan {
  blocks: PlannedBlock[];
  stopReason: StopReason;
  stopSequence: string | null;
  /** Every output token generated, thinking included (a tool call cut by the cap included too). */
  outputTokens: number;
  thinkingTokens: number;
}

/** Inputs of {@link planReply}. */
export interface ReplyInput {
  request: MessageRequest;
  model: ResolvedModel;
  /** Total input tokens, which with `max_tokens` must fit the context window. */
  inputTokens: number;
  headers: IncomingHttpHeaders;
  toolCalls: 'first-turn' | 'forced-only';
}

/**
 * Decides the reply. The model "wants" to think for T tokens (thinking on: the
 * `x-fake-thinking-tokens` header or the `thinkingTokens` setting, capped by `budget_tokens`),
 * then write C tokens of text (the `x-fake-reply-tokens` header, else the fixed `reply`, else
 * `replyTokens` of prose) and, when it calls a tool, a `tool_use` block (with at most 12 tokens of
 * text before it, none when `tool_choice` forced the call). The output cap is `max_tokens`, or what
 * the context window leaves if smaller; the blocks are cut in order at the cap, thinking included,
 * and a tool call that no longer fits is dropped (its generated tokens are still billed). A stop
 * sequence found in the text ends it there (the sequence itself is billed, not returned).
 */
export function planReply(input: ReplyInput): ReplyPlan {
  const { request, model } = input;
  const count = counterFor(model.tokenizer);
  const seed = seedOf(`${request.model}\u0000${JSON.stringify(request.messages)}`);
  const contextLeft = Math.max(0, model.contextWindow - input.inputTokens);
  const maxTokens = request.maxTokens ?? 0;
  const cap = Math.min(maxTokens, contextLeft);
  const capReason: StopReason =
    maxTokens <= contextLeft ? 'max_tokens' : 'model_context_window_exceeded';
  const blocks: PlannedBlock[] = [];
  let left = cap;
  const finish = (stopReason: StopReason, hidden = 0, stopSequence: string | null = null) => {
    const thinking = blocks.find((b) => b.type === 'thinking');
    return {
      blocks,
      stopReason,
      stopSequence,
      outputTokens: blocks.reduce((sum, b) => sum + b.tokens, 0) + hidden,
      thinkingTokens: thinking?.tokens ?? 0,
    };
  };

  const thinking = wantedThinking(input);
  if (thinking > 0) {
    const tokens = Math.min(thinking, left);
    const omitted = request.thinking.type !== 'off' && request.thinking.omitted;
    const text = omitted ? '' : generateProse(tokens, seed, model.tokenizer, 'thinking');
    const signature = createHash('sha256').update(`${seed}:${tokens}:${text}`).digest('base64');
    blocks.push({ type: 'thinking', text, signature, tokens });
    left -= tokens;
    if (tokens < thinking) return finish(capReason);
  }

  const tool = chosenTool(request, input.toolCalls);
  const forced = request.toolChoice.type === 'any' || request.toolChoice.type === 'tool';
  const headerTokens = readTokenHeader(input.headers, REPLY_TOKENS_HEADER);
  const fixed = headerTokens === undefined ? model.reply : undefined;
  let wanted = fixed === undefined ? (headerTokens ?? model.replyTokens) : count(fixed);
  if (tool) wanted = forced ? 0 : Math.min(wanted, TOOL_LEAD_IN_TOKENS);
  if (wanted > 0 && left > 0) {
    let text =
      fixed !== undefined && !tool
        ? fitText(fixed, left, count)
        : generateProse(Math.min(wanted, left), seed, model.tokenizer);
    const stop = firstStopSequence(text, request.stopSequences);
    if (stop) {
      text = text.slice(0, stop.at);
      const tokens = count(text + stop.sequence);
      if (text !== '') blocks.push({ type: 'text', text, tokens });
      return finish('stop_sequence', text === '' ? tokens : 0, stop.sequence);
    }
    const tokens = count(text);
    blocks.push({ type: 'text', text, tokens });
    left -= tokens;
    if (wanted > tokens) return finish(capReason);
  } else if (wanted > 0) {
    return finish(capReason);
  }

  if (!tool) return finish('end_turn');
  const toolInput = generateToolInput(tool.raw.input_schema);
  const toolTokens = toolUseTokens(tool.name, toolInput, count);
  if (toolTokens > left) return finish(capReason, left);
  const json = JSON.stringify(toolInput);
  blocks.push({ type: 'tool_use', name: tool.name, input: toolInput, json, tokens: toolTokens });
  return finish('tool_use');
}

function wantedThinking(input: ReplyInput): number {
  const thinking = input.request.thinking;
  if (thinking.type === 'off') return 0;
  const wanted =
    readTokenHeader(input.headers, THINKING_TOKENS_HEADER) ?? input.model.thinkingTokens;
  return thinking.type === 'enabled' ? Math.min(wanted, thinking.budgetTokens) : wanted;
}

/**
 * The custom tool the reply calls, if any: the one `tool_choice` names, the first one for `any`,
 * and for `auto` (unless `toolCalls` is `'forced-only'`) the first one when the conversation ends
 * with a user turn that is not a tool result.
 */
function chosenTool(
  request: MessageRequest,
  toolCalls: ReplyInput['toolCalls'],
): ToolDefinition | undefined {
  const custom = request.tools.filter((t) => t.custom);
  switch (request.toolChoice.type) {
    case 'none':
      return undefined;
    case 'tool':
      return custom.find((t) => t.name === request.toolChoice.name);
    case 'any':
      return custom[0];
    case 'auto': {
      if (toolCalls === 'forced-only') return undefined;
      const last = request.messages.filter((m) => m.role !== 'system').at(-1);
      if (last?.role !== 'user' || last.blocks.some((b) => b.type === 'tool_result')) {
        return undefined;
      }
      return custom[0];
    }
  }
}

/** The longest prefix of `text` (in code points) that costs at most `tokens`. */
function fitText(text: string, tokens: number, count: (text: string) => number): string {
  if (count(text) <= tokens) return text;
  const chars = Array.from(text);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (count(chars.slice(0, mid).join('')) <= tokens) low = mid;
    else high = mid - 1;
  }
  return chars.slice(0, low).join('');
}

function firstStopSequence(
  text: string,
  sequences: readonly string[],
): { at: number; sequence: string } | undefined {
  let best: { at: number; sequence: string } | undefined;
  for (const sequence of sequences) {
    const at = text.indexOf(sequence);
    if (at !== -1 && (best === undefined || at < best.at)) best = { at, sequence };
  }
  return best;
}
