// Structural mirrors of the OpenAI Chat Completions request params that affect prompt tokens.
// They are declared here rather than imported so that counting works without the `openai`
// package; the SDK's `ChatCompletionMessageParam[]` and `ChatCompletionTool[]` are assignable.

/** A text part of an array `content`. */
export interface ChatTextPart {
  readonly type: 'text';
  readonly text: string;
}

/** An image part of an array `content`; counted as a fixed estimate, see {@link TokenCounterOptions}. */
export interface ChatImagePart {
  readonly type: 'image_url';
  readonly image_url: { readonly url: string; readonly detail?: string };
}

/** An assistant refusal part of an array `content`; its text is counted. */
export interface ChatRefusalPart {
  readonly type: 'refusal';
  readonly refusal: string;
}

/** Any other part (`input_audio`, `file`, …); counted as 0 tokens. */
export interface ChatOtherPart {
  readonly type: string;
}

/** One element of an array `content`. */
export type ChatContentPart = ChatTextPart | ChatImagePart | ChatRefusalPart | ChatOtherPart;

/** A tool call made by an earlier assistant message. */
export interface ChatToolCall {
  readonly id?: string;
  readonly type?: string;
  readonly function?: { readonly name: string; readonly arguments: string };
  readonly custom?: { readonly name: string; readonly input: string };
}

/** A chat message: `system`, `developer`, `user`, `assistant`, `tool` or legacy `function`. */
export interface ChatMessage {
  readonly role: string;
  readonly content?: string | readonly ChatContentPart[] | null;
  readonly name?: string;
  readonly refusal?: string | null;
  readonly tool_calls?: readonly ChatToolCall[];
  readonly tool_call_id?: string;
  readonly function_call?: { readonly name: string; readonly arguments: string } | null;
}

/** A JSON-schema-ish function definition, as in `tools[].function`. */
export interface ChatFunctionDefinition {
  readonly name: string;
  readonly description?: string;
  readonly parameters?: { readonly [key: string]: unknown };
}

/** A tool offered to the model: `{ type: 'function', function }` or a custom tool. */
export interface ChatTool {
  readonly type: string;
  readonly function?: ChatFunctionDefinition;
  readonly custom?: {
    readonly name: string;
    readonly description?: string;
    readonly format?: unknown;
  };
}

/**
 * What {@link countChatTokens} needs from a Chat Completions request. A whole request body is
 * assignable; fields that do not reach the model (sampling settings, `metadata`, …) are ignored.
 */
export interface ChatTokenRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ChatTool[] | null;
  /** Deprecated tool definitions; counted as tools when `tools` is absent. */
  readonly functions?: readonly ChatFunctionDefinition[] | null;
  /** A structured-output format; a `json_schema` format's schema is counted whole. */
  readonly response_format?: ChatResponseFormat | null;
}

/** `response_format`: `{ type: 'text' }`, `{ type: 'json_object' }` or `{ type: 'json_schema', json_schema }`. */
export interface ChatResponseFormat {
  readonly type: string;
  readonly json_schema?: {
    readonly name: string;
    readonly description?: string;
    readonly schema?: { readonly [key: string]: unknown };
    readonly strict?: boolean | null;
  };
}
