import { createRequire } from 'node:module';
import { TokencapConfigError } from '../errors.js';
import {
  type EncodingName,
  oncePerEncoding,
  type TokenEncoder,
  type TokenEncoderFactory,
} from './token-encoder.interface.js';

interface TiktokenLike {
  encode(text: string, allowedSpecial: string[], disallowedSpecial: string[]): number[];
}
interface JsTiktokenLite {
  Tiktoken: new (ranks: unknown) => TiktokenLike;
}

// Loaded synchronously on first use, like the gpt-tokenizer backend, so the rank tables stay
// out of the import graph until a model needs them.
const require = createRequire(import.meta.url);

// Empty allow- and disallow-lists: special-token strings are neither turned into special tokens
// nor rejected (js-tiktoken throws on them by default).
const NONE: string[] = [];

/** Returns the process-wide js-tiktoken encoder for an encoding, building it on first call. */
export const jsTiktokenEncoder: TokenEncoderFactory = oncePerEncoding(build);

function build(name: EncodingName): TokenEncoder {
  const { Tiktoken } = loadLite();
  // Literal specifiers, so that bundlers and file tracers can see both tables.
  const ranksModule = (
    name === 'o200k_base'
      ? require('js-tiktoken/ranks/o200k_base')
      : require('js-tiktoken/ranks/cl100k_base')
  ) as { default?: unknown };
  // The CommonJS build exports the table itself; an interop wrapper would put it on `default`.
  const ranks = 'bpe_ranks' in ranksModule ? ranksModule : ranksModule.default;
  const tiktoken = new Tiktoken(ranks);
  return { name, count: (text) => tiktoken.encode(text, NONE, NONE).length };
}

// js-tiktoken is an optional peer dependency (22 MB): installed only by those who choose it.
function loadLite(): JsTiktokenLite {
  try {
    return require('js-tiktoken/lite') as JsTiktokenLite;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    throw new TokencapConfigError(
      "Tokenizer backend 'js-tiktoken' needs the optional peer dependency js-tiktoken: run `npm install js-tiktoken`, or use the default backend 'gpt-tokenizer'.",
      { cause: error },
    );
  }
}
