import type { Usage } from '../core/events.js';

/** A request body as the pipeline sees it: the caller's params, never mutated. */
export type RequestBody = Readonly<Record<string, unknown>>;

/**
 * The usage a provider reported, as far as it was well-formed: a field left out was absent or
 * malformed (a negative, fractional or non-numeric count).
 */
export type ReportedUsage = Partial<Usage> & {
  /** The model the provider answered with. */
  model?: string;
};

/**
 * The input side of a call, counted before it is sent. Input a request may write to a prompt
 * cache (Anthropic `cache_control`) is named, so dollars are reserved at the cache-write rate.
 */
export type InputCount = Pick<Usage, 'inputTokens'> &
  Partial<Pick<Usage, 'cacheWrite5mTokens' | 'cacheWrite1hTokens'>>;

/** Receives the visible output of a response, channel by channel (a choice, an output item). */
export interface OutputSink {
  add(channel: string, text: string): void;
}

/** Reads the items of one stream as they pass. */
export interface StreamObserver {
  /**
   * Takes note of one item: its visible text goes to `sink`, its usage is kept. Returns `false`
   * when the caller must not see the item (a usage chunk Tokencap asked for on their behalf).
   */
  observe(item: unknown, sink: OutputSink): boolean;
  /**
   * The usage the stream reported so far. Input may come first (Anthropic's `message_start`);
   * set `outputTokens` only from a final report (its `message_delta`, OpenAI's last chunk): a
   * stream that ends without it is settled from an estimate.
   */
  readonly usage: ReportedUsage | undefined;
  /** Whether the stream said the output cap cut it short. */
  readonly truncated: boolean;
}

/** Where an endpoint's output cap lives, and what values it accepts. */
export interface OutputCap {
  /** The caller's cap per choice, if the request names one. */
  requested(body: RequestBody): number | undefined;
  /**
   * The smallest cap per choice the endpoint accepts (Responses: 16). A budget that cannot grant
   * that much refuses the call before anything is sent.
   */
  minimum(body: RequestBody): number;
  /** How many choices share the cap (chat `n`); each is granted the cap. */
  choices(body: RequestBody): number;
  /**
   * A copy of `body` with its output capped at `cap` tokens per choice. `reasoning`: the catalog
   * lists the model sent as a reasoning model (o-series, gpt-5), for an endpoint whose cap field
   * depends on it.
   */
  withCap(body: RequestBody, cap: number, reasoning: boolean): RequestBody;
}

/**
 * What a provider adapter supplies for one endpoint: only what differs between providers. The
 * metered call (lib/metering) does the rest: policies, reservation, clamping, stream metering and
 * settlement. The largest cap a call gets comes from the model catalog (the model's output limit).
 */
export interface ProviderEndpoint {
  /** Names the endpoint in messages, e.g. `chat.completions`. */
  readonly name: string;
  /**
   * The provider, as the OpenTelemetry GenAI conventions name it (`gen_ai.provider.name`:
   * `openai`, `anthropic`, `aws.bedrock`, …); reported on `Ledger.calls$`.
   */
  readonly provider?: string;
  /** What a call does, as the conventions name it (`gen_ai.operation.name`). @default 'chat' */
  readonly operation?: 'chat' | 'embeddings';
  /** The output cap, or `undefined` for endpoints that produce no output (embeddings). */
  readonly output: OutputCap | undefined;
  /** The model the request names (`''` when it names none). */
  modelOf(body: RequestBody): string;
  /** A copy of `body` that asks for `model` instead (a `degrade` budget's fallback model). */
  withModel(body: RequestBody, model: string): RequestBody;
  /**
   * Input tokens of the request for `model` (the model that will be sent), by the provider's
   * rules; may ask the provider (a count-tokens endpoint). Never under the real count where the
   * rendering is known; the error bound of estimates is the adapter's to document.
   */
  countInput(body: RequestBody, model: string): InputCount | Promise<InputCount>;
  /**
   * Refuses a request whose parameters cannot be metered as sent (a negative cap, an option such
   * as Responses `background` whose usage never reaches the caller), before anything is reserved.
   * @throws TokencapRequestError naming the parameter.
   */
  validate?(body: RequestBody): void;
  /**
   * Whether the body is sent as JSON (an SDK request): it is then counted as `JSON.stringify`
   * sends it (`toJSON` applied). Framework endpoints whose bodies hold the framework's own objects
   * leave it unset. @default false
   */
  readonly jsonBody?: boolean;
  /** Whether the request asks for a stream. */
  isStream(body: RequestBody): boolean;
  /**
   * A copy of a streamed `body` that asks for usage at the end of the stream; `injected` tells
   * whether Tokencap added that request (and must hide what it brings from the caller).
   */
  prepareStream(body: RequestBody): { body: RequestBody; injected: boolean };
  /** The usage a non-streamed response reported. */
  usageOf(data: unknown): ReportedUsage | undefined;
  /** Visible output of a non-streamed response, counted when its usage is missing. */
  outputOf(data: unknown, sink: OutputSink): void;
  /** Whether the output cap cut a non-streamed response short. */
  truncated(data: unknown): boolean;
  /** A fresh observer for one stream. */
  streamObserver(injected: boolean): StreamObserver;
  /**
   * Tokens of a piece of output text, for the stream cut and for the estimate when no usage came.
   * Default: the model's exact count (its tiktoken encoding), else `estimateTokens`. A provider
   * with no local tokenizer counts low (never above the provider's own count), so an answer
   * within its cap is never cut. Fractions are allowed (totals are rounded down); the count of
   * two pieces must not be less than the count of the two joined.
   */
  countOutput?(text: string, model: string): number;
  /**
   * What a call whose output usage never came is charged for its output: `'granted'`, all the
   * output it was granted (output the caller never saw may have been billed, and the seen text
   * is only counted low); `'seen'`, the output seen, or the grant for models the catalog marks
   * as reasoning. @default 'seen'
   */
  readonly unreportedOutput?: 'granted' | 'seen';
}
