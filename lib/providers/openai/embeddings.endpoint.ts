import { countTokens, estimateTokens } from '../../counting/index.js';
import { record, tokenCount } from '../../metering/json.guards.js';
import type {
  ProviderEndpoint,
  ReportedUsage,
} from '../../metering/provider-endpoint.interface.js';
import { modelOf, withModel } from './openai-request.js';

/** `embeddings.create`: input tokens only, no output. */
export const embeddingsEndpoint: ProviderEndpoint = {
  name: 'embeddings',
  provider: 'openai',
  operation: 'embeddings',
  modelOf,
  withModel,
  output: undefined,

  countInput(body, model) {
    // A string, an array of strings, an array of token ids, or an array of token-id arrays.
    const input = body.input;
    const items: unknown[] =
      Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input : [input];
    let total = 0;
    for (const item of items) {
      if (typeof item === 'string') total += countText(item, model);
      else if (Array.isArray(item)) total += item.length;
    }
    return { inputTokens: total };
  },

  isStream: () => false,
  prepareStream: (body) => ({ body, injected: false }),

  usageOf(data) {
    const response = record(data);
    const usage = record(response?.usage);
    if (!usage) return undefined;
    const model = response?.model;
    const reported: ReportedUsage = {
      inputTokens: tokenCount(usage.prompt_tokens),
      outputTokens: 0,
    };
    return typeof model === 'string' ? { ...reported, model } : reported;
  },

  outputOf() {},
  truncated: () => false,
  streamObserver: () => ({ usage: undefined, truncated: false, observe: () => true }),
};

function countText(text: string, model: string): number {
  try {
    return countTokens(text, model);
  } catch {
    return estimateTokens(text);
  }
}
