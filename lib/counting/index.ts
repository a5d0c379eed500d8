// Token counting: exact tiktoken counts for OpenAI models, estimates for the rest. No imports
// from Nest or the OpenAI SDK, so the counting can be used (and tested) on its own.

export type {
  ChatContentPart,
  ChatFunctionDefinition,
  ChatImagePart,
  ChatMessage,
  ChatOtherPart,
  ChatRefusalPart,
  ChatResponseFormat,
  ChatTextPart,
  ChatTokenRequest,
  ChatTool,
  ChatToolCall,
} from './chat-request.types.js';
export { encodingForModel } from './model-encoding.resolver.js';
export type {
  ResponsesInputItem,
  ResponsesTextFormat,
  ResponsesTokenRequest,
  ResponsesTool,
} from './responses-request.types.js';
export type { TextCountCacheLimits, TextCountCacheStats } from './text-count.cache.js';
export {
  countChatTokens,
  countResponsesInput,
  countTokens,
  defaultTokenCounter,
} from './token-count.functions.js';
export {
  DEFAULT_CACHE_MAX_CHARS,
  DEFAULT_CACHE_SIZE,
  DEFAULT_IMAGE_TOKENS,
  TokenCounter,
  type TokenCounterOptions,
} from './token.counter.js';
export type {
  EncodingName,
  TokenEncoder,
  TokenEncoderFactory,
  TokenizerBackend,
} from './token-encoder.interface.js';
export { estimateTokens } from './token.estimator.js';
