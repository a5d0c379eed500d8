import { SHIPPED_MODEL_CATALOG } from '../models/model.catalog.js';
import type { EncodingName } from './token-encoder.interface.js';

/**
 * Returns the tiktoken encoding an OpenAI model uses, from the model catalog (`OPENAI_MODELS`),
 * by the catalog's one name rule: the exact name, a provider prefix dropped (`openai/gpt-4o`), a
 * fine-tune's base (`ft:<base>:<org>::<id>`), the snapshot date dropped (`gpt-4o-2024-08-06`),
 * then the longest known family prefix ending at a `-` (`gpt-4o-audio-preview`, `o1-preview`).
 *
 * Never throws: unknown names (Claude, Llama, Mistral, deprecated completion models…) and
 * non-string input return `undefined`, and callers fall back to {@link estimateTokens}.
 */
export function encodingForModel(model: string): EncodingName | undefined {
  if (typeof model !== 'string' || model.length === 0) return undefined;
  return SHIPPED_MODEL_CATALOG.encoding(model);
}
