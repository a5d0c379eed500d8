import type { ChatMessage, LLMChatParamsBase } from '@llamaindex/core/llms';
import { positiveCap, record } from '../../metering/json.guards.js';

/**
 * A LlamaIndex `chat()` call as a Chat Completions body: what the OpenAI LLM sends, and what the
 * metering pipeline counts and caps. Other LLMs are counted by the same formula (an estimate for
 * models it does not know).
 */
export function asChatBody(
  model: string,
  params: LLMChatParamsBase,
  cap: number | undefined,
  stream: boolean,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    messages: params.messages.map(asChatMessage),
    stream,
  };
  const tools = params.tools?.map((tool) => ({
    type: 'function',
    function: {
      name: tool.metadata.name,
      description: tool.metadata.description,
      parameters: tool.metadata.parameters ?? {},
    },
  }));
  if (tools && tools.length > 0) body.tools = tools;
  if (cap !== undefined) body.max_tokens = cap;
  return body;
}

/**
 * The cap of one call: the lowest of the LLM's own `maxTokens` and the `max_tokens` or
 * `max_completion_tokens` in the LLM's or the call's `additionalChatOptions`.
 */
export function requestedCap(
  llmCap: unknown,
  params: LLMChatParamsBase,
  llmOptions?: Record<string, unknown>,
): number | undefined {
  const extra = record(params.additionalChatOptions);
  const caps = [
    llmCap,
    llmOptions?.max_tokens,
    llmOptions?.max_completion_tokens,
    extra?.max_tokens,
    extra?.max_completion_tokens,
  ]
    .map(positiveCap)
    .filter((c): c is number => c !== undefined);
  return caps.length > 0 ? Math.min(...caps) : undefined;
}

function asChatMessage(message: ChatMessage): Record<string, unknown> {
  const options = record(message.options);
  const result = record(options?.toolResult);
  if (result) {
    return {
      role: 'tool',
      tool_call_id: String(result.id ?? ''),
      content: contentOf(message.content),
    };
  }
  const role = message.role === 'memory' ? 'system' : message.role;
  const out: Record<string, unknown> = { role, content: contentOf(message.content) };
  const calls = options?.toolCall;
  if (Array.isArray(calls) && calls.length > 0) {
    out.tool_calls = calls.map((call: unknown) => {
      const c = record(call);
      const input = c?.input;
      return {
        id: String(c?.id ?? ''),
        type: 'function',
        function: {
          name: String(c?.name ?? ''),
          arguments: typeof input === 'string' ? input : JSON.stringify(input ?? {}),
        },
      };
    });
  }
  return out;
}

/** Text content as is; content parts with their text kept and other parts as they are. */
function contentOf(content: unknown): unknown {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: unknown) => {
    const p = record(part);
    return p?.type === 'text' && typeof p.text === 'string' ? { type: 'text', text: p.text } : part;
  });
}
