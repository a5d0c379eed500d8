import type { BaseMessage } from '@langchain/core/messages';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { record } from '../../metering/json.guards.js';

/**
 * One LangChain model call as the metering pipeline sees it: the model, the messages and tools it
 * sends, and the output cap read from the model's own field. Never sent anywhere: the model's own
 * code builds the provider request; this body only feeds counting, planning and the clamp.
 */
export interface LangChainCall {
  model: string;
  messages: readonly BaseMessage[];
  /** The call's bound tools (`bindTools`, `createAgent`), in whatever form LangChain accepted. */
  tools: readonly unknown[] | undefined;
  stream: boolean;
  /** The model's output cap per choice, when it has one. */
  cap: number | undefined;
  /**
   * Extended thinking's `budget_tokens` (ChatAnthropic's `thinking`, or `thinking` in its
   * `invocationKwargs`) when thinking is enabled with a valid budget; it must stay below the cap.
   */
  thinking: number | undefined;
  choices: number;
}

/** Whether `model` is a Claude model (counted by the Claude estimator, not a tiktoken formula). */
export function isClaude(model: string): boolean {
  return /(^|[./:])claude/i.test(model);
}

/** The call's messages and tools as a Chat Completions request, for the OpenAI token formula. */
export function asChatRequest(call: LangChainCall): {
  messages: Record<string, unknown>[];
  tools: Record<string, unknown>[] | undefined;
} {
  const messages = call.messages.map((message) => {
    const role = ROLES[message.type] ?? 'user';
    const out: Record<string, unknown> = { role, content: contentOf(message.content) };
    if (message.type === 'ai') {
      const calls = toolCallsOf(message);
      if (calls.length > 0) {
        out.tool_calls = calls.map((c) => ({
          id: c.id ?? '',
          type: 'function',
          function: { name: c.name, arguments: JSON.stringify(c.args ?? {}) },
        }));
      }
    }
    if (message.type === 'tool') out.tool_call_id = toolCallIdOf(message);
    return out;
  });
  return { messages, tools: openAITools(call.tools) };
}

/** The call's messages and tools as an Anthropic Messages request, for the Claude estimator. */
export function asMessagesRequest(call: LangChainCall): Record<string, unknown> {
  const system: string[] = [];
  const messages: Record<string, unknown>[] = [];
  for (const message of call.messages) {
    if (message.type === 'system') {
      system.push(textOf(message.content));
      continue;
    }
    const blocks = blocksOf(message.content);
    if (message.type === 'ai') {
      for (const c of toolCallsOf(message)) {
        blocks.push({ type: 'tool_use', id: c.id ?? '', name: c.name, input: c.args ?? {} });
      }
      messages.push({ role: 'assistant', content: blocks });
    } else if (message.type === 'tool') {
      messages.push({
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: toolCallIdOf(message), content: blocks }],
      });
    } else {
      messages.push({ role: 'user', content: blocks });
    }
  }
  const tools = openAITools(call.tools)?.map((tool) => {
    const fn = record(tool.function);
    return fn
      ? { name: fn.name, description: fn.description, input_schema: fn.parameters ?? {} }
      : tool;
  });
  return { system: system.join('\n'), messages, ...(tools ? { tools } : {}) };
}

const ROLES: Record<string, string> = {
  system: 'system',
  developer: 'developer',
  human: 'user',
  ai: 'assistant',
  tool: 'tool',
  function: 'function',
};

interface ToolCallLike {
  id?: string;
  name: string;
  args?: unknown;
}

function toolCallsOf(message: BaseMessage): ToolCallLike[] {
  const calls = (message as { tool_calls?: unknown }).tool_calls;
  return Array.isArray(calls) ? (calls as ToolCallLike[]) : [];
}

function toolCallIdOf(message: BaseMessage): string {
  const id = (message as { tool_call_id?: unknown }).tool_call_id;
  return typeof id === 'string' ? id : '';
}

/** String content as is; block content as OpenAI parts (text kept, other blocks as they are). */
function contentOf(content: unknown): unknown {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((block: unknown) => {
    const b = record(block);
    return b && b.type === 'text' && typeof b.text === 'string'
      ? { type: 'text', text: b.text }
      : block;
  });
}

function blocksOf(content: unknown): Record<string, unknown>[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) return [];
  return content.map((block: unknown) => record(block) ?? { type: 'text', text: String(block) });
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block: unknown) => {
      const text = record(block)?.text;
      return typeof text === 'string' ? text : JSON.stringify(block);
    })
    .join('\n');
}

/** Tools in OpenAI's form; one LangChain cannot convert is kept whole, so it is still counted. */
function openAITools(tools: readonly unknown[] | undefined): Record<string, unknown>[] | undefined {
  if (!tools || tools.length === 0) return undefined;
  return tools.map((tool) => {
    try {
      return convertToOpenAITool(tool as Parameters<typeof convertToOpenAITool>[0]) as never;
    } catch {
      return { type: 'function', function: { name: 'tool', parameters: tool } };
    }
  });
}
