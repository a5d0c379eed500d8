import type { EncodingName } from './token-encoder.interface.js';

/** What the request formulas need from a {@link TokenCounter} for one model. */
export interface CountContext {
  /** Token count of one string: exact (cached, long runs bounded) or estimated. */
  readonly text: (text: string) => number;
  /** The model's encoding; `undefined` when the model is unknown and counts are estimated. */
  readonly encoding: EncodingName | undefined;
  /** Tokens charged per image part. */
  readonly imageTokens: number;
}
