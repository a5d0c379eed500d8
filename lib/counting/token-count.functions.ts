import type { ChatTokenRequest } from './chat-request.types.js';
import type { ResponsesTokenRequest } from './responses-request.types.js';
import { TokenCounter } from './token.counter.js';

// Created on first use so that importing the package allocates nothing; a counter is
// stateless apart from its bounded cache, so one shared instance serves every caller.
let shared: TokenCounter | undefined;

/** The counter behind the free functions: gpt-tokenizer backend, default cache limits. */
export function defaultTokenCounter(): TokenCounter {
  shared ??= new TokenCounter();
  return shared;
}

/**
 * Tokens in `text` for `model`: exact with the model's tiktoken encoding (special-token
 * strings count as plain text), or `estimateTokens` (from `tokencap/engine`) when the model is unknown.
 */
export function countTokens(text: string, model: string): number {
  return defaultTokenCounter().count(text, model);
}

/**
 * The `prompt_tokens` the Chat Completions API bills for `messages` (+ `tools`), by the OpenAI
 * cookbook's formula: 3 per message + role + content (+1 + name), 3 for reply priming, and the
 * cookbook's `num_tokens_for_tools` formula for tool definitions. Image parts count a fixed
 * estimate (765); audio and file parts count 0. Never throws.
 */
export function countChatTokens(request: ChatTokenRequest): number {
  return defaultTokenCounter().countChat(request);
}

/**
 * Estimated `input_tokens` of a Responses API request (`input`, `instructions`, `tools`), with
 * the Chat formula's shape applied to Responses items. It is an estimate: reconcile with the
 * usage the API reports.
 */
export function countResponsesInput(request: ResponsesTokenRequest): number {
  return defaultTokenCounter().countResponses(request);
}
