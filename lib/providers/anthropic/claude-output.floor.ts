// A floor under Claude's token count of output text, for the stream cut only: Anthropic enforces
// `max_tokens` itself (the budget's clamp sets it to the grant), so the cut is a safety net for a
// server that ignores the cap, and it must never fire on an answer within it. A count that is low
// "on the corpus" is not enough: a fraction of the estimator ran at 4–30× o200k on runs of
// repeated symbols (`=====` rules, ASCII tables), cutting answers far inside their cap. So each
// piece of text is priced at the least any measured byte-level BPE charges for it (o200k, cl100k,
// the testing kit's Claude counter): no token crosses a pre-token boundary (a word with the space
// or punctuation before it, a run of symbols, a run of whitespace), no token is longer than
// MAX_TOKEN_BYTES, and a run of one repeated character merges at most REPEAT_PER_TOKEN characters
// (o200k and cl100k merge 64 repeated symbols and 125 spaces). It counts prose at about 0.75× its
// real count and repeated symbols far below, so a server that ignores the cap is aborted later
// (docs/anthropic.md, Streams) but a compliant answer never is.

/** The longest token of any measured vocabulary, in UTF-8 bytes, with a margin. */
const MAX_TOKEN_BYTES = 32;
/** Characters of one repeated character a single token may hold, with a margin. */
const REPEAT_PER_TOKEN = 128;

const WORD = 1;
const SYMBOL = 2;
const SPACE = 3;

/**
 * A count of `text` never above what Claude (or any byte-level BPE measured) charges for it. Split
 * text counts at least as much as the whole (every piece costs at least its own floor). One pass,
 * no allocation; never throws.
 */
export function claudeOutputFloor(text: string): number {
  let tokens = 0;
  let i = 0;
  let afterSymbols = false;
  while (i < text.length) {
    const kind = classOf(text.charCodeAt(i));
    const start = i;
    if (kind === SPACE) {
      while (i < text.length && classOf(text.charCodeAt(i)) === SPACE) i++;
      // Whitespace after symbols joins them (`.\n\n`); the last space of a run joins what follows.
      const own = afterSymbols ? 0 : i < text.length ? i - start - 1 : i - start;
      tokens += Math.ceil(own / REPEAT_PER_TOKEN);
      afterSymbols = false;
      continue;
    }
    let bytes = 0;
    let same = true;
    while (i < text.length && classOf(text.charCodeAt(i)) === kind) {
      if (text.charCodeAt(i) !== text.charCodeAt(start)) same = false;
      bytes += bytesOf(text.charCodeAt(i));
      i++;
    }
    let length = i - start;
    // One symbol before a word may join it (`.Net`, `'s`).
    if (kind === SYMBOL && i < text.length && classOf(text.charCodeAt(i)) === WORD) {
      bytes -= 1;
      length -= 1;
    }
    if (length > 0) {
      tokens += same
        ? Math.ceil(length / REPEAT_PER_TOKEN)
        : Math.max(1, Math.ceil(bytes / MAX_TOKEN_BYTES));
    }
    afterSymbols = kind === SYMBOL;
  }
  return tokens;
}

/** UTF-8 bytes of one UTF-16 code unit (a surrogate is half of a 4-byte character). */
function bytesOf(code: number): number {
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  return code >= 0xd800 && code <= 0xdfff ? 2 : 3;
}

// Letters, digits, marks and every non-ASCII character are one class (fewer boundaries: lower).
function classOf(code: number): number {
  if (code < 0x80) {
    if ((code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a)) return WORD;
    if (code >= 0x30 && code <= 0x39) return WORD;
    if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) return SPACE;
    return SYMBOL;
  }
  if (code === 0xa0 || code === 0x85 || code === 0x1680 || code === 0x3000) return SPACE;
  if ((code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029) return SPACE;
  return WORD;
}
