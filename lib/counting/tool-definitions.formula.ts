import type { CountContext } from './count-context.interface.js';
import { isObject } from './object.guard.js';
import { countStringLeaves } from './string-leaves.counter.js';

// The OpenAI cookbook's `num_tokens_for_tools` constants ("How to count tokens with tiktoken",
// section 7). It publishes them for gpt-4o/gpt-4o-mini (o200k_base) and gpt-3.5-turbo/gpt-4
// (cl100k_base); the only difference is the per-function opening. Later o200k models and
// unknown models use the o200k set.
const FUNC_INIT_O200K = 7;
const FUNC_INIT_CL100K = 10;
const PROP_INIT = 3;
const PROP_KEY = 3;
const ENUM_INIT = -3;
const ENUM_ITEM = 3;
const FUNC_END = 12;

// Schemas are developer-written, but a cap keeps a self-referencing object from recursing forever.
const MAX_NESTING = 8;

/** A function definition in either API's shape: nested under `function` (Chat) or flat (Responses). */
interface FunctionLike {
  readonly name?: unknown;
  readonly description?: unknown;
  readonly parameters?: unknown;
}

/**
 * Tokens the tool definitions add to the prompt, by the cookbook's formula: per function
 * `func_init` + `name:description`; if it has properties, `prop_init` and per property
 * `prop_key` + `key:type:description`, plus `enum_init` and `enum_item` + item per enum value;
 * `func_end` once at the end. A trailing period is dropped from descriptions, as the cookbook does.
 *
 * Beyond the cookbook (it only reads top-level properties): nested object properties and array
 * `items` properties are counted the same way, recursively, so that rich schemas are not
 * under-counted; custom tools count `name:description` plus their format's strings; built-in
 * Responses tools (web search, file search…) count their own strings only — the hidden prompt
 * they add server-side is unknown and left to reconciliation with reported usage.
 */
export function countToolDefinitions(
  tools: readonly unknown[] | undefined,
  ctx: CountContext,
): number {
  if (tools === undefined || !Array.isArray(tools) || tools.length === 0) return 0;
  const funcInit = ctx.encoding === 'cl100k_base' ? FUNC_INIT_CL100K : FUNC_INIT_O200K;
  let total = FUNC_END;
  for (const tool of tools) {
    if (!isObject(tool)) continue;
    total += funcInit;
    const fn = functionOf(tool);
    if (fn !== undefined) {
      total += ctx.text(`${stringOf(fn.name)}:${withoutFinalPeriod(stringOf(fn.description))}`);
      total += countProperties(isObject(fn.parameters) ? fn.parameters : undefined, ctx);
    } else if (isObject(tool.custom)) {
      const { name, description, format } = tool.custom;
      total += ctx.text(`${stringOf(name)}:${withoutFinalPeriod(stringOf(description))}`);
      total += countStringLeaves(format, ctx.text);
    } else {
      total += countStringLeaves(tool, ctx.text);
    }
  }
  return total;
}

function functionOf(tool: Readonly<Record<string, unknown>>): FunctionLike | undefined {
  if (isObject(tool.function)) return tool.function;
  if (tool.type === 'function' && typeof tool.name === 'string') return tool;
  return undefined;
}

function countProperties(
  schema: Readonly<Record<string, unknown>> | undefined,
  ctx: CountContext,
  depth = 0,
): number {
  const properties = schema?.properties;
  if (!isObject(properties)) return 0;
  const keys = Object.keys(properties);
  if (keys.length === 0) return 0;
  let total = PROP_INIT;
  for (const key of keys) {
    const property = properties[key];
    if (!isObject(property)) continue;
    total += PROP_KEY;
    if (Array.isArray(property.enum)) {
      total += ENUM_INIT;
      for (const item of property.enum) total += ENUM_ITEM + ctx.text(String(item));
    }
    const type = Array.isArray(property.type) ? property.type.join('|') : stringOf(property.type);
    total += ctx.text(`${key}:${type}:${withoutFinalPeriod(stringOf(property.description))}`);
    if (depth < MAX_NESTING) {
      total += countProperties(property, ctx, depth + 1);
      if (isObject(property.items)) total += countProperties(property.items, ctx, depth + 1);
    }
  }
  return total;
}

function withoutFinalPeriod(text: string): string {
  return text.endsWith('.') ? text.slice(0, -1) : text;
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
