import type { CountContext } from './count-context.interface.js';

/**
 * UTF-16 units of schema text (tool definitions, response formats, items of unknown types) that
 * one request has counted exactly before the rest is bounded instead. Exact counting costs up to
 * ~2 s per MB on hostile text (long runs of random letters or CJK); real tool sets are a few
 * kilobytes, and OpenAI's Structured Outputs cap a schema's strings at 120,000 characters.
 */
export const EXACT_SCHEMA_CHARS = 1_000_000;

/**
 * Wraps an exact counter with a per-request budget: strings are counted by `count` while the
 * budget lasts; a string that does not fit counts its UTF-8 length in bytes instead. A byte-level
 * BPE token holds at least one byte, so that is an upper bound of its tokens, found in one pass.
 * Strings counted after a large one still count exactly while the budget lasts.
 */
export function budgetedText(
  count: (text: string) => number,
  budget: number = EXACT_SCHEMA_CHARS,
): (text: string) => number {
  let left = budget;
  return (text) => {
    if (text.length > left) return utf8Length(text);
    left -= text.length;
    return count(text);
  };
}

/** Bytes of `text` in UTF-8; a lone surrogate is written as U+FFFD (3 bytes), as encoders do. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * The context the schema formulas of one request use: `ctx` with its exact counter behind a
 * fresh {@link budgetedText} budget. Estimated counts (unknown models) are already linear and
 * are used as they are.
 */
export function schemaContext(ctx: CountContext): CountContext {
  if (ctx.encoding === undefined) return ctx;
  return { encoding: ctx.encoding, imageTokens: ctx.imageTokens, text: budgetedText(ctx.text) };
}
