import { countTokens, estimateTokens } from '../counting/index.js';
import { type Endpoint, record, type ReportedUsage, tokenCount } from './endpoint.interface.js';

/** `embeddings.create`: input tokens only, no output. */
export const embeddingsEndpoint: Endpoint = {
  name: 'embeddings',
  producesOutput: false,

  countPrompt(body, model) {
    // A string, an array of strings, an array of token ids, or an array of token-id arrays.
    const input = body.input;
    const items: unknown[] =
      Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input : [input];
    let total = 0;
    for (const item of items) {
      if (typeof item === 'string') total += countText(item, model);
      else if (Array.isArray(item)) total += item.length;
    }
    return total;
  },

  outputCap() {
    return 0;
  },

  choices() {
    return 1;
  },

  withOutputCap(body) {
    return body;
  },

  prepareStream(body) {
    return { body, injected: false };
  },

  reportedUsage(data) {
    const response = record(data);
    const usage = record(response?.usage);
    if (!usage) return undefined;
    const model = response?.model;
    const reported: ReportedUsage = { prompt: tokenCount(usage.prompt_tokens), output: 0 };
    return typeof model === 'string' ? { ...reported, model } : reported;
  },

  outputOf() {},

  truncated() {
    return false;
  },

  streamObserver() {
    return { usage: undefined, truncated: false, observe: () => true };
  },
};

function countText(text: string, model: string): number {
  try {
    return countTokens(text, model);
  } catch {
    return estimateTokens(text);
  }
}
