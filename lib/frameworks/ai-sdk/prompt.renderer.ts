import type {
  LanguageModelV4CallOptions,
  LanguageModelV4FunctionTool,
  LanguageModelV4ProviderTool,
  LanguageModelV4ToolResultOutput,
  SharedV4FileData as FileData,
} from '@ai-sdk/provider';
import { record } from '../../metering/json.guards.js';

// The AI SDK hands a middleware its provider-neutral prompt; each provider package turns it into
// its own request body. These renderers do the same for counting, following `@ai-sdk/openai`
// (Chat Completions and Responses) and `@ai-sdk/anthropic` (Messages) for the parts that reach
// the model: text, tool calls and results, tool definitions, the JSON output schema. A part they
// cannot render as text (a file, an image) is rendered the way the Tokencap counters price it.

type Tool = LanguageModelV4FunctionTool | LanguageModelV4ProviderTool;

/** A Chat Completions body for `model`, as `@ai-sdk/openai`'s chat model sends it. */
export function renderChatRequest(
  params: LanguageModelV4CallOptions,
  model: string,
): Record<string, unknown> {
  const messages: Record<string, unknown>[] = [];
  for (const message of params.prompt) {
    switch (message.role) {
      case 'system':
        messages.push({ role: 'system', content: message.content });
        break;
      case 'user': {
        const [first] = message.content;
        if (message.content.length === 1 && first.type === 'text') {
          messages.push({ role: 'user', content: first.text });
          break;
        }
        messages.push({
          role: 'user',
          content: message.content.map((part) =>
            part.type === 'text'
              ? { type: 'text', text: part.text }
              : isImage(part.mediaType)
                ? { type: 'image_url', image_url: { url: fileUrl(part.data) } }
                : { type: 'file', file: { file_data: fileText(part.data) } },
          ),
        });
        break;
      }
      case 'assistant': {
        let text = '';
        const calls: Record<string, unknown>[] = [];
        for (const part of message.content) {
          if (part.type === 'text') text += part.text;
          else if (part.type === 'tool-call') {
            calls.push({
              id: part.toolCallId,
              type: 'function',
              function: { name: part.toolName, arguments: callArguments(part.input) },
            });
          }
        }
        messages.push({
          role: 'assistant',
          content: calls.length > 0 ? text || null : text,
          ...(calls.length > 0 && { tool_calls: calls }),
        });
        break;
      }
      case 'tool':
        for (const part of message.content) {
          if (part.type !== 'tool-result') continue;
          messages.push({
            role: 'tool',
            tool_call_id: part.toolCallId,
            content: chatToolOutput(part.output),
          });
        }
        break;
    }
  }
  const tools = functionTools(params.tools).map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
  }));
  const format = params.responseFormat;
  return {
    model,
    messages,
    ...(tools.length > 0 && { tools }),
    ...(format?.type === 'json' && {
      response_format: format.schema
        ? {
            type: 'json_schema',
            json_schema: {
              name: format.name ?? 'response',
              description: format.description,
              schema: format.schema,
            },
          }
        : { type: 'json_object' },
    }),
  };
}

/** A Responses API body for `model`, as `@ai-sdk/openai`'s responses model sends it. */
export function renderResponsesRequest(
  params: LanguageModelV4CallOptions,
  model: string,
): Record<string, unknown> {
  const input: Record<string, unknown>[] = [];
  for (const message of params.prompt) {
    switch (message.role) {
      case 'system':
        input.push({ role: 'system', content: message.content });
        break;
      case 'user':
        input.push({
          role: 'user',
          content: message.content.map((part) =>
            part.type === 'text'
              ? { type: 'input_text', text: part.text }
              : isImage(part.mediaType)
                ? { type: 'input_image', image_url: fileUrl(part.data) }
                : { type: 'input_file', file_data: fileText(part.data) },
          ),
        });
        break;
      case 'assistant':
        for (const part of message.content) {
          if (part.type === 'text') {
            input.push({ role: 'assistant', content: [{ type: 'output_text', text: part.text }] });
          } else if (part.type === 'tool-call') {
            input.push({
              type: 'function_call',
              call_id: part.toolCallId,
              name: part.toolName,
              arguments: callArguments(part.input),
            });
          }
        }
        break;
      case 'tool':
        for (const part of message.content) {
          if (part.type !== 'tool-result') continue;
          input.push({
            type: 'function_call_output',
            call_id: part.toolCallId,
            output: chatToolOutput(part.output),
          });
        }
        break;
    }
  }
  const tools = functionTools(params.tools).map((tool) => ({
    type: 'function',
    name: tool.name,
    description: tool.description,
    parameters: tool.inputSchema,
    // As @ai-sdk/openai sends it; the field is counted, so leaving it out under-counts a token.
    strict: (tool as { strict?: boolean }).strict ?? false,
  }));
  const format = params.responseFormat;
  return {
    model,
    input,
    ...(tools.length > 0 && { tools }),
    ...(format?.type === 'json' && {
      text: {
        format: format.schema
          ? {
              type: 'json_schema',
              name: format.name ?? 'response',
              description: format.description,
              schema: format.schema,
            }
          : { type: 'json_object' },
      },
    }),
  };
}

/**
 * An Anthropic Messages body for `model`, as `@ai-sdk/anthropic` sends it: the shape the
 * conservative Claude estimator reads (system blocks, content blocks, tools, thinking).
 */
export function renderMessagesRequest(
  params: LanguageModelV4CallOptions,
  model: string,
): Record<string, unknown> {
  const system: Record<string, unknown>[] = [];
  const messages: Record<string, unknown>[] = [];
  for (const message of params.prompt) {
    switch (message.role) {
      case 'system':
        system.push({ type: 'text', text: message.content });
        break;
      case 'user':
        messages.push({
          role: 'user',
          content: message.content.map((part) =>
            part.type === 'text'
              ? { type: 'text', text: part.text }
              : isImage(part.mediaType)
                ? { type: 'image' }
                : { type: 'document', source: documentSource(part.data) },
          ),
        });
        break;
      case 'assistant':
        messages.push({
          role: 'assistant',
          content: message.content.map((part) => {
            switch (part.type) {
              case 'text':
                return { type: 'text', text: part.text };
              case 'reasoning':
                return { type: 'thinking', thinking: part.text };
              case 'tool-call':
                return { type: 'tool_use', name: part.toolName, input: part.input };
              case 'tool-result':
                return { type: 'tool_result', content: chatToolOutput(part.output) };
              default:
                return part;
            }
          }),
        });
        break;
      case 'tool':
        messages.push({
          role: 'user',
          content: message.content
            .filter((part) => part.type === 'tool-result')
            .map((part) => ({ type: 'tool_result', content: chatToolOutput(part.output) })),
        });
        break;
    }
  }
  const tools = (params.tools ?? []).map((tool) =>
    tool.type === 'function'
      ? { name: tool.name, description: tool.description, input_schema: tool.inputSchema }
      : { type: tool.id, name: tool.name, ...tool.args },
  );
  const thinking = record(record(params.providerOptions?.anthropic)?.thinking);
  const format = params.responseFormat;
  return {
    model,
    messages,
    ...(system.length > 0 && { system }),
    ...(tools.length > 0 && { tools }),
    ...(thinking && { thinking: { type: thinking.type } }),
    ...(format?.type === 'json' &&
      format.schema && {
        output_config: { format: { type: 'json_schema', schema: format.schema } },
      }),
  };
}

/** Tool output as `@ai-sdk/openai` sends it in a tool message (Anthropic sends the same text). */
function chatToolOutput(output: LanguageModelV4ToolResultOutput): string {
  switch (output.type) {
    case 'text':
      return output.value;
    case 'error-text':
    case 'error-json':
      return safeJson({ error: output.value });
    case 'execution-denied':
      return output.reason ?? 'Tool call execution denied.';
    default:
      return safeJson(output.value);
  }
}

/** Tool-call arguments as `@ai-sdk/openai` sends them: an object's JSON, else `{}`. */
function callArguments(input: unknown): string {
  if (typeof input === 'string') {
    try {
      const parsed: unknown = JSON.parse(input);
      return record(parsed) ? input : '{}';
    } catch {
      return '{}';
    }
  }
  return safeJson(record(input) ?? {});
}

function functionTools(tools: readonly Tool[] | undefined): LanguageModelV4FunctionTool[] {
  return (tools ?? []).filter(
    (tool): tool is LanguageModelV4FunctionTool => tool.type === 'function',
  );
}

function isImage(mediaType: string): boolean {
  return mediaType.startsWith('image/');
}

function fileUrl(data: FileData): string {
  const value = record(data);
  return typeof value?.url === 'string' || value?.url instanceof URL ? String(value.url) : '';
}

/** A file's content as text (its base64), so a document is priced by its size. */
function fileText(data: FileData): string {
  const value = record(data);
  const bytes = value?.data;
  if (typeof bytes === 'string') return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes).toString('base64');
  if (typeof value?.text === 'string') return value.text;
  return fileUrl(data);
}

function documentSource(data: FileData): Record<string, unknown> {
  const value = record(data);
  if (typeof value?.text === 'string') return { type: 'text', data: value.text };
  const text = fileText(data);
  return value?.data !== undefined ? { type: 'base64', data: text } : { type: 'url', url: text };
}

// A BigInt or a cycle cannot be sent as JSON; `@ai-sdk/openai` replaces them, counted here as `{}`.
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '{}';
  }
}
