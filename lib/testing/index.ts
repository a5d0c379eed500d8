/**
 * `tokencap/testing`: fake provider servers on loopback for tests, benchmarks and offline demos: an
 * OpenAI-compatible one (`startFakeOpenAI`, described below) and an Anthropic Messages API one
 * (`startFakeAnthropic`, with its own token counter, prompt cache and tally; see
 * `docs/testing-kit.md`).
 *
 * ```ts
 * const server = await startFakeOpenAI();
 * const client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
 * ```
 *
 * Rules, all deterministic:
 * - Prompt usage is Tokencap's own `countChatTokens` / `countResponsesInput` / `countTokens`.
 * - A reply is `' hello'` repeated, one token per repetition under every OpenAI encoding. Its
 *   length is the `x-fake-reply-tokens` header, else the `replyTokens` option (200), cut to the
 *   request's `max_completion_tokens` / `max_tokens` / `max_output_tokens` (then `finish_reason:
 *   'length'`, or a Response `incomplete`). Reasoning models (`o1*`, `o3*`, `o4*`, `gpt-5*`)
 *   first spend `x-fake-reasoning-tokens` / `reasoningTokens` (64) hidden tokens, counted in
 *   `completion_tokens` and against the cap.
 * - A forced `tool_choice` (`'required'`, or a named function) is answered with a function call
 *   (chat `tool_calls`, a Responses `function_call` item) whose arguments fit the tool's schema,
 *   billed as the tokens of its name and arguments.
 * - `cached_tokens` is the `x-fake-cached-tokens` header, else the prompt-cache simulation: a
 *   prompt extending an earlier one of >= 1024 tokens has that one's length, rounded down to a
 *   multiple of 128, cached.
 * - Billing (`server.tally`) starts with the first byte of the response: a streamed reply is
 *   billed prompt + reasoning + the content chunks actually written, so a client abort or a cut
 *   stream is billed only for what was sent. Errors, refused requests and requests abandoned
 *   before the first byte are billed nothing.
 * - Requests the real API refuses get its 400 (a Responses `max_output_tokens` below 16, a chat
 *   cap below 1, a cap that is not an integer, a chat request with both `max_tokens` and
 *   `max_completion_tokens`). Options and fault parameters that are unknown,
 *   of the wrong type or out of range throw a `TokencapConfigError` naming them.
 * @packageDocumentation
 */
export { startFakeOpenAI, type FakeOpenAIServer } from './fake-openai.server.js';
export type { FakeOpenAIOptions } from './fake-openai.options.js';
export type { FakeOpenAITally, ReportedTotals, TokenTotals } from './billing.tally.js';
export type {
  CutStreamFault,
  DelayFault,
  DropAfterBillingFault,
  EmptyStreamFault,
  ErrorFault,
  FailOptions,
  FakeFault,
  FaultHandle,
  MalformedUsageFault,
  OmitUsageFault,
  OverReportUsageFault,
} from './fault.injector.js';
export type { RecordedRequest } from './request.log.js';
export type { OpenAIErrorBody, OpenAIErrorFields } from './openai-error.factory.js';
export {
  CACHED_TOKENS_HEADER,
  isReasoningModel,
  REASONING_TOKENS_HEADER,
  REPLY_TOKENS_HEADER,
  REPLY_UNIT,
  type ReplyStyle,
} from './reply.planner.js';
export { startFakeAnthropic, type FakeAnthropicServer } from './anthropic/fake-anthropic.server.js';
export type {
  FakeAnthropicOptions,
  FakeClaudeModelOptions,
} from './anthropic/fake-anthropic.options.js';
export type { ClaudeTokenizer } from './anthropic/claude-token.counter.js';
export type {
  AnthropicReportedTotals,
  AnthropicTokenTotals,
  FakeAnthropicTally,
} from './anthropic/anthropic-billing.tally.js';
export type {
  AnthropicCutStreamFault,
  AnthropicDelayFault,
  AnthropicDropAfterBillingFault,
  AnthropicEmptyStreamFault,
  AnthropicErrorFault,
  AnthropicMalformedUsageFault,
  AnthropicOmitUsageFault,
  AnthropicOverReportUsageFault,
  AnthropicStreamErrorFault,
  AnthropicUnderReportUsageFault,
  FakeAnthropicFault,
} from './anthropic/anthropic-fault.types.js';
export type { AnthropicErrorBody } from './anthropic/anthropic-error.factory.js';
export { THINKING_TOKENS_HEADER } from './anthropic/claude-reply.planner.js';
