/** A request body as the wrapper sees it: the caller's params, never mutated. */
export type RequestBody = Readonly<Record<string, unknown>>;

/** Usage fields a response reported with well-formed numbers; a missing field was absent or malformed. */
export interface ReportedUsage {
  prompt?: number;
  output?: number;
  cached?: number;
  reasoning?: number;
  /** The model the provider answered with. */
  model?: string;
}

/** Receives the visible output of a response, channel by channel (a choice, an output item). */
export interface OutputSink {
  add(channel: string, text: string): void;
}

/** Reads the items of one stream as they pass. */
export interface StreamObserver {
  /**
   * Takes note of one item: its visible text goes to `sink`, its usage is kept. Returns `false`
   * when the caller must not see the item (the usage chunk Tokencap asked for on their behalf).
   */
  observe(item: unknown, sink: OutputSink): boolean;
  /** The usage the stream reported, once it has. */
  readonly usage: ReportedUsage | undefined;
  /** Whether the stream said the output cap cut it short. */
  readonly truncated: boolean;
}

/** What the wrapper needs to know about one metered endpoint. */
export interface Endpoint {
  readonly name: 'chat.completions' | 'responses' | 'embeddings';
  /** Whether the endpoint produces output tokens (embeddings do not). */
  readonly producesOutput: boolean;
  /** Input tokens of the request, counted by the API's rules. */
  countPrompt(body: RequestBody, model: string): number;
  /** The caller's output cap per choice, if any. */
  outputCap(body: RequestBody): number | undefined;
  /** How many choices share the output cap (chat `n`). */
  choices(body: RequestBody): number;
  /** A copy of `body` whose output is capped at `cap` tokens per choice. */
  withOutputCap(body: RequestBody, cap: number, chatParameter: ChatCapParameter): RequestBody;
  /**
   * A copy of a streamed `body` that asks for usage at the end of the stream; `injected` tells
   * whether Tokencap added that request (and must hide its result from the caller).
   */
  prepareStream(body: RequestBody): { body: RequestBody; injected: boolean };
  /** Usage a non-streamed response reported. */
  reportedUsage(data: unknown): ReportedUsage | undefined;
  /** Visible output of a non-streamed response, for counting when usage is missing. */
  outputOf(data: unknown, sink: OutputSink): void;
  /** Whether the output cap cut a non-streamed response short. */
  truncated(data: unknown): boolean;
  /** A fresh observer for one stream. */
  streamObserver(injected: boolean): StreamObserver;
}

/** The chat parameter that carries an output cap Tokencap adds to an uncapped request. */
export type ChatCapParameter = 'max_completion_tokens' | 'max_tokens';

/** A whole number of tokens >= 0, or `undefined` for anything else (null, strings, negatives). */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** `value` as a plain object, or `undefined`. */
export function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A positive whole cap, treating `null`/absent (and nonsense the API would reject) as no cap. */
export function positiveCap(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}
