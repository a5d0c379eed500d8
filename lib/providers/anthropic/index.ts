// `tokencap/anthropic`: the Anthropic Messages API on the metering pipeline. Its own subpath, so
// apps that do not use `@anthropic-ai/sdk` (an optional peer dependency) never load this code.
export {
  type AnthropicCounting,
  type AnthropicLike,
  wrapAnthropic,
  type WrapAnthropicOptions,
} from './wrap-anthropic.js';
export { MIN_THINKING_BUDGET } from './messages-output.cap.js';
export {
  type ClaudeTokenizerGeneration,
  tokenizerGeneration,
} from './claude-tokenizer.generation.js';
export { estimateClaudeTokens } from './claude-text.estimator.js';
export { estimateMessagesInput } from './messages-request.estimator.js';
