import type { CountContext } from './count-context.interface.js';
import { countJsonText } from './json-text.counter.js';
import { isObject } from './object.guard.js';

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

type Fields = Readonly<Record<string, unknown>>;

/**
 * Tokens the tool definitions add to the prompt.
 *
 * Where the OpenAI cookbook publishes a formula it is used as published: per function
 * `func_init` + `name:description`; if it has properties, `prop_init` and per top-level property
 * `prop_key` + `key:type:description`, plus `enum_init` and `enum_item` + item per enum value;
 * `func_end` once (a trailing period is dropped from descriptions, as the cookbook does). Its
 * figures are the API's for the schemas it covers (test/unit/counting/cookbook-examples.spec.ts).
 *
 * Everything the cookbook formula does not read is added on top, never instead: every other key
 * and value of the tool, of `parameters` and of each property, at any depth (`$defs`, `anyOf` /
 * `oneOf` / `allOf`, nested `properties`, `items`, `default`, `examples`, `title`, `required`
 * entries that name no property, …), by {@link countJsonText}. A function is also never counted
 * below the tokens of the strings the formula reads, each counted on its own (the formula joins
 * them and drops periods, which can count a token or two less on unusual text). Custom tools are
 * counted like functions, their `format` as the rest; built-in tools (web search, file search, …)
 * `func_init` plus every string they hold (the hidden prompt they add server-side is unknown and
 * left to reconciliation with the reported usage).
 */
export function countToolDefinitions(tools: unknown, ctx: CountContext): number {
  if (!Array.isArray(tools) || tools.length === 0) return 0;
  const funcInit = ctx.encoding === 'cl100k_base' ? FUNC_INIT_CL100K : FUNC_INIT_O200K;
  let total = FUNC_END;
  for (const tool of tools) {
    if (!isObject(tool)) {
      total += countJsonText(tool, ctx.text);
      continue;
    }
    const shape = functionShape(tool);
    total +=
      shape === undefined
        ? funcInit + countJsonText(tool, ctx.text)
        : countFunction(tool, shape, funcInit, ctx);
  }
  return total;
}

/** Where a function-like tool keeps its fields: under `function` / `custom` (Chat) or flat (Responses). */
interface FunctionShape {
  readonly fn: Fields;
  readonly wrapperKey: 'function' | 'custom' | undefined;
}

function functionShape(tool: Fields): FunctionShape | undefined {
  if (isObject(tool.function)) return { fn: tool.function, wrapperKey: 'function' };
  if (isObject(tool.custom)) return { fn: tool.custom, wrapperKey: 'custom' };
  if ((tool.type === 'function' || tool.type === 'custom') && typeof tool.name === 'string') {
    return { fn: tool, wrapperKey: undefined };
  }
  return undefined;
}

/**
 * One function or custom tool: max(formula, its strings) + everything the formula leaves out.
 * `formula` is the cookbook's figure; `floor` the tokens of the strings it reads, keys included,
 * each counted alone; `rest` the members it does not read, walked whole.
 */
class FunctionCount {
  formula = 0;
  floor = 0;
  rest = 0;

  constructor(private readonly ctx: CountContext) {}

  /** A string the formula reads (its tokens join the floor). */
  read(text: string): void {
    this.floor += this.ctx.text(text);
  }

  /** A member the formula does not read: its key and value, walked whole. */
  skip(key: string, value: unknown): void {
    if (value === undefined) return;
    this.rest += countJsonText({ [key]: value }, this.ctx.text);
  }

  /** Every member of `fields` except those `covered` says the formula has read. */
  skipOthers(fields: Fields, covered: (key: string, value: unknown) => boolean): void {
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value === undefined) continue;
      if (covered(key, value)) this.read(key);
      else this.skip(key, value);
    }
  }

  total(): number {
    return Math.max(this.formula, this.floor) + this.rest;
  }
}

function countFunction(tool: Fields, shape: FunctionShape, funcInit: number, ctx: CountContext) {
  const { fn, wrapperKey } = shape;
  const count = new FunctionCount(ctx);
  const name = typeof fn.name === 'string' ? fn.name : '';
  const description = typeof fn.description === 'string' ? fn.description : '';
  count.formula += funcInit + ctx.text(`${name}:${withoutFinalPeriod(description)}`);
  if (wrapperKey !== undefined) {
    count.skipOthers(tool, (key, value) => key === wrapperKey || isTypeTag(key, value));
  }
  const parameters = isObject(fn.parameters) ? fn.parameters : undefined;
  count.skipOthers(fn, (key, value) => {
    if (key === 'name' || key === 'description') return typeof value === 'string';
    if (key === 'parameters') return value === parameters;
    // `strict` is a decoding switch, not text; a flat Responses tool also carries its `type`.
    if (key === 'strict') return typeof value === 'boolean' || value === null;
    return wrapperKey === undefined && isTypeTag(key, value);
  });
  if (typeof fn.name === 'string') count.read(fn.name);
  if (typeof fn.description === 'string') count.read(fn.description);
  if (wrapperKey !== undefined && typeof tool.type === 'string') count.read(tool.type);
  if (wrapperKey === undefined && typeof fn.type === 'string') count.read(fn.type);
  if (parameters !== undefined) countParameters(parameters, count, ctx);
  return count.total();
}

function countParameters(parameters: Fields, count: FunctionCount, ctx: CountContext): void {
  const properties = isObject(parameters.properties) ? parameters.properties : undefined;
  const names = properties === undefined ? [] : Object.keys(properties);
  const known = new Set(names);
  // The formula has no line for these: an object's `type` is implied, and `required` only marks
  // which of the properties it counts are optional. A `required` naming anything else is walked.
  const required =
    Array.isArray(parameters.required) &&
    parameters.required.every((n) => typeof n === 'string' && known.has(n))
      ? (parameters.required as readonly string[])
      : undefined;
  count.skipOthers(parameters, (key, value) => {
    if (key === 'properties') return value === properties;
    if (key === 'type') return value === 'object';
    return key === 'required' && value === required;
  });
  if (parameters.type === 'object') count.read('object');
  for (const name of required ?? []) count.read(name);
  if (properties === undefined || names.length === 0) return;
  count.formula += PROP_INIT;
  for (const name of names) {
    const property = properties[name];
    if (!isObject(property)) {
      // `true`, `false` or junk: valid JSON Schema the formula has no line for.
      count.skip(name, property);
      continue;
    }
    count.read(name);
    countProperty(name, property, count, ctx);
  }
}

function countProperty(name: string, property: Fields, count: FunctionCount, ctx: CountContext) {
  count.formula += PROP_KEY;
  const types = typeNames(property.type);
  const description = typeof property.description === 'string' ? property.description : undefined;
  const enumValues = Array.isArray(property.enum) ? property.enum : undefined;
  count.skipOthers(property, (key, value) => {
    if (key === 'type') return types !== undefined;
    if (key === 'description') return description !== undefined;
    return key === 'enum' && value === enumValues;
  });
  for (const type of types ?? []) count.read(type);
  if (description !== undefined) count.read(description);
  if (enumValues !== undefined) {
    count.formula += ENUM_INIT;
    for (const item of enumValues) {
      count.formula += ENUM_ITEM;
      if (typeof item === 'object' && item !== null) {
        // An object or array enum value: no place in the formula, so it is walked whole.
        count.rest += countJsonText(item, ctx.text);
      } else {
        const text = String(item);
        count.formula += ctx.text(text);
        count.read(text);
      }
    }
  }
  const typeText = types?.join('|') ?? '';
  count.formula += ctx.text(`${name}:${typeText}:${withoutFinalPeriod(description ?? '')}`);
}

/** `type` as the formula renders it: a string, or an array of strings joined with `|`. */
function typeNames(type: unknown): readonly string[] | undefined {
  if (typeof type === 'string') return [type];
  if (Array.isArray(type) && type.every((t) => typeof t === 'string')) return type as string[];
  return undefined;
}

function isTypeTag(key: string, value: unknown): boolean {
  return key === 'type' && typeof value === 'string';
}

function withoutFinalPeriod(text: string): string {
  return text.endsWith('.') ? text.slice(0, -1) : text;
}
