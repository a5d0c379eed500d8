import type { EncodingName } from '../models/model-facts.js';

// Defined with the other model facts (lib/models), where each model's encoding is recorded.
export type { EncodingName };

/** Built-in tokenizer implementations a {@link TokenCounter} can use. */
export type TokenizerBackend = 'gpt-tokenizer' | 'js-tiktoken';

/**
 * One loaded encoding. `count` returns the exact number of BPE tokens in `text`, treating
 * special-token strings such as `<|endoftext|>` as plain text, and never throws on any string.
 *
 * Implementations need not bound their cost on hostile input: {@link TokenCounter} splits long
 * unbroken runs before calling `count`.
 */
export interface TokenEncoder {
  /** The encoding this encoder implements. */
  readonly name: EncodingName;
  /** Exact token count of `text`, special-token strings counted as ordinary text. */
  count(text: string): number;
}

/** Builds (or returns an already built) encoder for an encoding; lets callers plug in their own tokenizer. */
export type TokenEncoderFactory = (encoding: EncodingName) => TokenEncoder;

/**
 * Wraps `build` so each encoding is built at most once per process: rank tables are immutable and
 * costly to build (0.2–2 s, 15–70 MB of heap for o200k), so every counter shares one instance.
 */
export function oncePerEncoding(build: TokenEncoderFactory): TokenEncoderFactory {
  const loaded = new Map<EncodingName, TokenEncoder>();
  return (encoding) => {
    let encoder = loaded.get(encoding);
    if (encoder === undefined) {
      encoder = build(encoding);
      loaded.set(encoding, encoder);
    }
    return encoder;
  };
}
