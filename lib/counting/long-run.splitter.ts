/**
 * Longest run of same-class characters (letters/marks, symbols/punctuation, or whitespace) that
 * is handed to the tokenizer unsplit. BPE merging costs O(n²) in the length of one pre-token,
 * and both encodings' pre-tokenizers turn such a run into a single pre-token, so `'a'.repeat(n)`
 * or a paragraph of CJK without punctuation would otherwise take seconds to minutes per MB.
 *
 * A pre-token is at most one class run plus a few attached characters (a leading space or
 * symbol, a contraction, trailing newlines), so no pre-token the tokenizer sees exceeds
 * `2 * LONG_RUN_CHARS + 4` UTF-16 units. Ordinary text — words, code, JSON, Chinese with
 * punctuation — has no run this long and is counted exactly, in one call.
 */
export const LONG_RUN_CHARS = 128;

// Tokens added per cut. Measured over thousands of random runs, a cut lowered the sum of the
// pieces below the exact count by at most 2 tokens, so 2 per cut keeps every observed case at
// or above exact; on hostile input it over-counts by ~1% (random CJK) to ~12% ('aaaa…').
const CUT_MARGIN = 2;

// Matches only at the start of a run (the lookbehind fails anywhere inside one), so the scan is
// linear: each run is walked at most once per alternative. Used through matchAll, which clones
// it, so no lastIndex state is shared between calls.
const LONG_RUN = new RegExp(
  `(?<![\\p{L}\\p{M}])[\\p{L}\\p{M}]{${LONG_RUN_CHARS},}` +
    `|(?<![^\\s\\p{L}\\p{N}])[^\\s\\p{L}\\p{N}]{${LONG_RUN_CHARS},}` +
    `|(?<!\\s)\\s{${LONG_RUN_CHARS},}`,
  'gu',
);

/**
 * Counts `text` with `count`, cutting every run of {@link LONG_RUN_CHARS} or more same-class
 * characters into chunks of at most that length, so that the cost is linear in `text.length`.
 *
 * Text without such runs is passed through whole and the result is exact. Otherwise the pieces
 * are counted separately and two tokens are added per cut. BPE is not sub-additive: a cut
 * usually splits a merge and raises the sum, but can occasionally lower it by a token or two,
 * and the margin keeps the result at or above the exact count, the safe side for a budget.
 */
export function countSplittingLongRuns(text: string, count: (piece: string) => number): number {
  let total = 0;
  let pieces = 0;
  let done = 0;
  for (const match of text.matchAll(LONG_RUN)) {
    const runStart = match.index;
    const runEnd = runStart + match[0].length;
    if (runStart > done) {
      total += count(text.slice(done, runStart));
      pieces++;
    }
    for (let start = runStart; start < runEnd;) {
      const end = chunkEnd(text, start, runEnd);
      total += count(text.slice(start, end));
      pieces++;
      start = end;
    }
    done = runEnd;
  }
  if (pieces === 0) return count(text);
  if (done < text.length) {
    total += count(text.slice(done));
    pieces++;
  }
  return total + CUT_MARGIN * (pieces - 1);
}

function chunkEnd(text: string, start: number, runEnd: number): number {
  let end = Math.min(start + LONG_RUN_CHARS, runEnd);
  // Never separate a surrogate pair: half an emoji would be counted as a replacement character.
  if (end < runEnd && isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return end;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
