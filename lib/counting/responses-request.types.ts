// Structural mirrors of the OpenAI Responses request params that affect input tokens, declared
// here so counting works without the `openai` package. The SDK's `ResponseInput` items and
// `Tool`s are assignable; fields vary per item type, so the formula reads them defensively.

/** One `input` item: a message (`role` + `content`), a function call or output, reasoning… */
export interface ResponsesInputItem {
  readonly type?: string | null;
  readonly role?: string;
}

/** A tool offered to the model: a flat `{ type: 'function', name, description, parameters }` or a built-in tool. */
export interface ResponsesTool {
  readonly type: string;
  readonly name?: string;
  readonly description?: string | null;
  readonly parameters?: unknown;
}

/**
 * What {@link countResponsesInput} needs from a Responses request. A whole request body is
 * assignable; fields that do not reach the model (sampling settings, `metadata`, …) are ignored.
 */
export interface ResponsesTokenRequest {
  readonly model: string;
  readonly input?: string | readonly ResponsesInputItem[];
  readonly instructions?: string | null;
  readonly tools?: readonly ResponsesTool[] | null;
  /** Text output settings; a `json_schema` format's schema is counted whole. */
  readonly text?: { readonly format?: ResponsesTextFormat | null } | null;
  /** A stored prompt: its `variables` are counted (the stored text itself is not known here). */
  readonly prompt?: { readonly variables?: { readonly [name: string]: unknown } | null } | null;
}

/** `text.format`: `{ type: 'text' }`, `{ type: 'json_object' }` or a flat `{ type: 'json_schema', name, schema, … }`. */
export interface ResponsesTextFormat {
  readonly type: string;
  readonly name?: string;
  readonly description?: string;
  readonly schema?: { readonly [key: string]: unknown };
  readonly strict?: boolean | null;
}
