import { invalidRequest } from './anthropic-error.factory.js';
import {
  cacheControl,
  fieldError,
  join,
  noExtraKeys,
  object,
  string,
  type JsonObject,
} from './content-block.validator.js';

/** A tool definition: `custom` (client) tools are answered by the fake, server tools only counted. */
export interface ToolDefinition {
  name: string;
  custom: boolean;
  raw: JsonObject;
}

/** `tool_choice`, defaulted to `auto`. */
export interface ToolChoice {
  type: 'auto' | 'any' | 'tool' | 'none';
  name: string | undefined;
}

/** The request's thinking configuration; `off` when absent, `disabled` or `between_tools`. */
export type Thinking =
  | { type: 'off' }
  | { type: 'enabled'; budgetTokens: number; omitted: boolean }
  | { type: 'adaptive'; omitted: boolean };

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
const CUSTOM_TOOL_KEYS = [
  'type',
  'name',
  'description',
  'input_schema',
  'cache_control',
  'allowed_callers',
  'defer_loading',
  'eager_input_streaming',
  'input_examples',
  'strict',
];

/** Validates `tools`: custom tools need a valid name and an object `input_schema`; names are unique. */
export function tools(value: unknown): ToolDefinition[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fieldError('tools', 'Input should be a valid list');
  const seen = new Set<string>();
  return value.map((item, i) => {
    const path = `tools.${i}`;
    const tool = object(item, path);
    const custom = tool.type === undefined || tool.type === null || tool.type === 'custom';
    if (!custom && typeof tool.type !== 'string')
      fieldError(join(path, 'type'), 'Input should be a valid string');
    const name = string(tool.name, join(path, 'name'));
    if (custom) {
      noExtraKeys(tool, CUSTOM_TOOL_KEYS, path);
      if (!TOOL_NAME.test(name)) {
        fieldError(join(path, 'name'), "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'");
      }
      if (tool.description !== undefined) string(tool.description, join(path, 'description'));
      const schema = object(tool.input_schema, join(path, 'input_schema'));
      if (schema.type !== 'object') {
        fieldError(join(path, 'input_schema.type'), "Input should be 'object'");
      }
    }
    cacheControl(tool.cache_control, join(path, 'cache_control'));
    if (seen.has(name))
      fieldError(
        'tools',
        `Tool names must be unique. Duplicate: ${JSON.stringify(name).slice(0, 66)}`,
      );
    seen.add(name);
    return { name, custom, raw: tool };
  });
}

/** Validates `tool_choice` against the tools offered. */
export function toolChoice(value: unknown, offered: readonly ToolDefinition[]): ToolChoice {
  if (value === undefined) return { type: 'auto', name: undefined };
  const choice = object(value, 'tool_choice');
  const type = choice.type;
  if (type !== 'auto' && type !== 'any' && type !== 'tool' && type !== 'none') {
    fieldError('tool_choice.type', "Input should be 'auto', 'any', 'tool' or 'none'");
  }
  const allowed =
    type === 'none'
      ? ['type']
      : type === 'tool'
        ? ['type', 'name', 'disable_parallel_tool_use']
        : ['type', 'disable_parallel_tool_use'];
  noExtraKeys(choice, allowed, 'tool_choice');
  if (
    choice.disable_parallel_tool_use !== undefined &&
    typeof choice.disable_parallel_tool_use !== 'boolean'
  ) {
    fieldError('tool_choice.disable_parallel_tool_use', 'Input should be a valid boolean');
  }
  if ((type === 'any' || type === 'tool') && offered.length === 0) {
    fieldError('tool_choice', 'tool_choice may only be specified while providing tools.');
  }
  let name: string | undefined;
  if (type === 'tool') {
    name = string(choice.name, 'tool_choice.name');
    if (!offered.some((t) => t.name === name)) {
      fieldError(
        'tool_choice.name',
        `Tool ${JSON.stringify(name).slice(0, 66)} not found in provided tools`,
      );
    }
  }
  return { type, name };
}

/**
 * Validates `thinking`. A manual budget must be at least 1,024 tokens and, on `/v1/messages`,
 * below `max_tokens` (pass `maxTokens: undefined` for `count_tokens`, which has no `max_tokens`).
 */
export function thinking(value: unknown, maxTokens: number | undefined): Thinking {
  if (value === undefined || value === null) return { type: 'off' };
  const config = object(value, 'thinking');
  switch (config.type) {
    case 'disabled':
    case 'between_tools':
      noExtraKeys(config, ['type'], 'thinking');
      return { type: 'off' };
    case 'adaptive':
      noExtraKeys(config, ['type', 'display'], 'thinking');
      return { type: 'adaptive', omitted: display(config) };
    case 'enabled': {
      noExtraKeys(config, ['type', 'budget_tokens', 'display'], 'thinking');
      const budget = config.budget_tokens;
      if (budget === undefined) fieldError('thinking.enabled.budget_tokens', 'Field required');
      if (typeof budget !== 'number' || !Number.isSafeInteger(budget)) {
        fieldError('thinking.enabled.budget_tokens', 'Input should be a valid integer');
      }
      if (budget < 1024) {
        fieldError(
          'thinking.enabled.budget_tokens',
          'Input should be greater than or equal to 1024',
        );
      }
      if (maxTokens !== undefined && maxTokens <= budget) {
        throw invalidRequest(
          `\`max_tokens\` must be greater than \`thinking.budget_tokens\`. Got max_tokens=${maxTokens}, budget_tokens=${budget}.`,
        );
      }
      return { type: 'enabled', budgetTokens: budget, omitted: display(config) };
    }
    default:
      return fieldError(
        'thinking.type',
        "Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'",
      );
  }
}

function display(config: JsonObject): boolean {
  const value = config.display;
  if (value === undefined || value === null || value === 'summarized') return false;
  if (value === 'omitted') return true;
  return fieldError('thinking.display', "Input should be 'summarized' or 'omitted'");
}
