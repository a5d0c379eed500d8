import { countTokens, estimateTokens } from '../counting/index.js';
import { generateToolInput } from './anthropic/tool-input.generator.js';
import type { ReplyPlan } from './reply.planner.js';

/** The function call a reply makes instead of text. */
export interface ToolCallPlan {
  readonly name: string;
  /** JSON arguments satisfying the tool's schema (see `generateToolInput`). */
  readonly arguments: string;
  /** Output tokens of the call: its name and arguments, counted as one text. */
  readonly tokens: number;
}

/**
 * The function a request forces the model to call, as the API honours `tool_choice`: `'required'`
 * calls the first function tool, a named choice calls that one. Unforced requests (`auto`, `none`,
 * no choice) get a text reply, so a tool loop only runs away when the caller forces it. `api`
 * picks the request shape: Chat Completions nests a function under `function`, Responses does not.
 */
export function forcedToolCall(
  body: Record<string, unknown>,
  model: string,
  api: 'chat' | 'responses',
): ToolCallPlan | undefined {
  const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : [];
  const functions = tools
    .map((tool) => functionOf(tool, api))
    .filter((fn): fn is { name: string; parameters: unknown } => fn !== undefined);
  if (functions.length === 0) return undefined;
  const choice = body.tool_choice;
  let chosen: { name: string; parameters: unknown } | undefined;
  if (choice === 'required') chosen = functions[0];
  else if (isObject(choice) && choice.type === 'function') {
    const name = api === 'chat' && isObject(choice.function) ? choice.function.name : choice.name;
    chosen = functions.find((fn) => fn.name === name);
  }
  if (!chosen) return undefined;
  const args = JSON.stringify(generateToolInput(chosen.parameters));
  return { name: chosen.name, arguments: args, tokens: count(chosen.name + args, model) };
}

/**
 * A reply that calls `call` after its reasoning. When the call does not fit under `cap` the
 * reply is cut: the tokens up to the cap are billed and no call is made.
 */
export function planToolReply(
  plan: ReplyPlan,
  call: ToolCallPlan,
  cap: number | undefined,
): { call: ToolCallPlan | undefined; tokens: number; truncated: boolean } {
  const left = cap === undefined ? Infinity : cap - plan.reasoningTokens;
  if (call.tokens <= left) return { call, tokens: call.tokens, truncated: false };
  return { call: undefined, tokens: Math.max(0, left), truncated: true };
}

function functionOf(
  tool: unknown,
  api: 'chat' | 'responses',
): { name: string; parameters: unknown } | undefined {
  if (!isObject(tool) || tool.type !== 'function') return undefined;
  const fn = api === 'chat' ? tool.function : tool;
  if (!isObject(fn) || typeof fn.name !== 'string') return undefined;
  return { name: fn.name, parameters: fn.parameters };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(text: string, model: string): number {
  try {
    return countTokens(text, model);
  } catch {
    return estimateTokens(text);
  }
}
