import type { IncomingHttpHeaders } from 'node:http';

import { MAX_REPLY_TOKENS } from './fake-openai.options.js';
import { describeValue } from './kit-options.validator.js';
import { invalidRequest } from './openai-error.factory.js';
import { optionalInteger } from './request-body.validator.js';

/**
 * The unit of every fake reply. `' hello'` is exactly one token in o200k_base, cl100k_base and the
 * older GPT-2 based encodings, and repeating it never merges across repetitions, so a reply of N
 * units counts as exactly N tokens under any model's encoding. That is what lets tests assert
 * that Tokencap's own count of the content equals the reported `completion_tokens`.
 */
export const REPLY_UNIT = ' hello';

/** Header asking for a visible reply of exactly this many tokens (before the request's cap). */
export const REPLY_TOKENS_HEADER = 'x-fake-reply-tokens';
/** Header setting the hidden reasoning tokens of a reasoning model for this request. */
export const REASONING_TOKENS_HEADER = 'x-fake-reasoning-tokens';
/** Header forcing `cached_tokens` (clamped to the prompt length) for this request. */
export const CACHED_TOKENS_HEADER = 'x-fake-cached-tokens';

/** How long one reply is and why it stopped. */
export interface ReplyPlan {
  /** Hidden reasoning tokens, billed as completion tokens but not part of the content. */
  reasoningTokens: number;
  /** Visible tokens; the content is {@link replyText} of this length. */
  contentTokens: number;
  /** `'length'` when the request's cap cut the reply short. */
  truncated: boolean;
}

/** Inputs of {@link planReply}. */
export interface ReplyPlanInput {
  model: string;
  headers: IncomingHttpHeaders;
  /** The request's output cap (`max_completion_tokens`, `max_tokens`, `max_output_tokens`). */
  cap: number | undefined;
  defaultReplyTokens: number;
  defaultReasoningTokens: number;
}

/**
 * True for models that spend hidden reasoning tokens: `o1*`, `o3*`, `o4*` and `gpt-5*` except the
 * `gpt-5*-chat*` variants, which are plain chat models.
 */
export function isReasoningModel(model: string): boolean {
  return /^(o1|o3|o4)(-|$)/.test(model) || (/^gpt-5/.test(model) && !/-chat/.test(model));
}

/**
 * Decides the reply length. The model "wants" to reason for R tokens then answer with C tokens,
 * where C is the `x-fake-reply-tokens` header or the server's `replyTokens`, and R is the
 * `x-fake-reasoning-tokens` header or the server's `reasoningTokens` (0 for non-reasoning models).
 * A cap below R + C truncates, reasoning first as the real API does: reasoning gets
 * min(R, cap), the content gets the rest, and the reply is marked truncated.
 */
export function planReply(input: ReplyPlanInput): ReplyPlan {
  const wantedContent =
    readTokenHeader(input.headers, REPLY_TOKENS_HEADER) ?? input.defaultReplyTokens;
  const wantedReasoning = isReasoningModel(input.model)
    ? (readTokenHeader(input.headers, REASONING_TOKENS_HEADER) ?? input.defaultReasoningTokens)
    : 0;
  const cap = input.cap;
  if (cap === undefined || wantedReasoning + wantedContent <= cap) {
    return { reasoningTokens: wantedReasoning, contentTokens: wantedContent, truncated: false };
  }
  const reasoningTokens = Math.min(wantedReasoning, cap);
  return { reasoningTokens, contentTokens: cap - reasoningTokens, truncated: true };
}

/** What a fake reply says: see `FakeOpenAIOptions.replyStyle`. */
export type ReplyStyle = 'repeat' | 'prose';

// Every unit (a space-led word, or a comma or full stop) is one token in o200k_base, cl100k_base
// and r50k_base, and no two adjacent units merge, so N units count as exactly N tokens anywhere in
// the loop (test/unit/testing/reply-prose.spec.ts checks every unit and random slices).
const PROSE =
  ' A budget caps what an agent may spend before the money is gone. A loop that calls the model' +
  ' again and again will stop here, with a clear reply instead of a large bill. Each call is' +
  ' counted first, then held, then settled with the usage the provider reports. When a session' +
  ' gets close to its limit, the page shows a warning, and the next call that would cross it is' +
  ' refused. You can raise the limit, wait for the window to reset, or switch to a cheaper model.' +
  ' The same rules hold for every user, every team and every task, in one process or across many.';
/** The units of the `'prose'` style, in order; replies cycle through them. */
export const PROSE_UNITS: readonly string[] = PROSE.split(/(?=[ .,])/);

/**
 * The content of a reply of `tokens` tokens; `offset` is how many tokens of the same reply came
 * before (a stream's earlier chunks), so chunks join into the whole reply.
 */
export function replyText(tokens: number, style: ReplyStyle = 'repeat', offset = 0): string {
  if (style === 'repeat') return REPLY_UNIT.repeat(tokens);
  let text = '';
  for (let i = 0; i < tokens; i++) text += PROSE_UNITS[(offset + i) % PROSE_UNITS.length];
  return text;
}

/**
 * Reads a non-negative integer header, at most 1,000,000.
 * @throws FakeHttpError 400 when present but not such an integer, so a typo in a test shows up as
 * an error instead of a silently default-length reply.
 */
export function readTokenHeader(headers: IncomingHttpHeaders, name: string): number | undefined {
  const raw = headers[name];
  if (raw === undefined) return undefined;
  const text = Array.isArray(raw) ? raw[0] : raw;
  const value = Number(text);
  if (
    text === undefined ||
    text.trim() === '' ||
    !Number.isInteger(value) ||
    value < 0 ||
    value > MAX_REPLY_TOKENS
  ) {
    throw invalidRequest(
      `Header ${name} must be an integer from 0 to ${MAX_REPLY_TOKENS}, got ${describeValue(String(raw))}.`,
    );
  }
  return value;
}

/** The smallest output cap each endpoint accepts, as the API enforces it. */
export const MIN_OUTPUT_CAP = {
  /** `max_completion_tokens` / `max_tokens` of Chat Completions. */
  chat: 1,
  /** `max_output_tokens` of the Responses API, which refuses anything below 16. */
  responses: 16,
} as const;

/**
 * Validates every output-cap field present (`null` counts as absent, as in the API) and returns
 * the first of `fields` present.
 * @throws FakeHttpError 400 as the API answers: `invalid_type` for a non-integer,
 * `integer_below_min_value` below `min` (default 1), with `param` naming the field.
 */
export function readOutputCap(
  body: Record<string, unknown>,
  fields: readonly string[],
  min: number = MIN_OUTPUT_CAP.chat,
): number | undefined {
  let cap: number | undefined;
  for (const field of fields) {
    const value = optionalInteger(body, field, { min, max: Number.MAX_SAFE_INTEGER });
    cap ??= value;
  }
  return cap;
}
