import { LETTER, runClasses, SPACE, SYMBOL } from './run-class.table.js';

/**
 * Longest run of same-class characters (letters/marks, symbols/punctuation, or whitespace) that
 * is handed to the tokenizer unsplit. BPE merging costs O(n²) in the length of one pre-token,
 * and both encodings' pre-tokenizers turn such a run into a single pre-token, so `'a'.repeat(n)`
 * or a paragraph of CJK without punctuation would otherwise take seconds to minutes per MB.
 *
 * A pre-token is at most one class run plus a few attached characters (a leading space or
 * symbol, a contraction, trailing newlines), so no pre-token the tokenizer sees is longer than
 * about `2 * LONG_RUN_CHARS` code points. Ordinary text — words, code, JSON, Chinese with
 * punctuation — has no run this long and is counted exactly, in one call.
 */
export const LONG_RUN_CHARS = 128;

// Tokens added per cut. Measured over thousands of random runs, a cut lowered the sum of the
// pieces below the exact count by at most 2 tokens, so 2 per cut keeps every observed case at
// or above exact; on hostile input it over-counts by ~1% (random CJK) to ~12% ('aaaa…').
const CUT_MARGIN = 2;

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
  // Shorter than one long run: nothing to split, no need to look.
  if (text.length < LONG_RUN_CHARS) return count(text);
  const runs = findLongRuns(text);
  if (runs.length === 0) return count(text);

  let total = 0;
  let pieces = 0;
  let done = 0;
  for (let r = 0; r < runs.length; r += 2) {
    const runStart = runs[r];
    const runEnd = runs[r + 1];
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
  if (done < text.length) {
    total += count(text.slice(done));
    pieces++;
  }
  return total + CUT_MARGIN * (pieces - 1);
}

// Characters between the points where the scan looks (see findLongRuns): a run of 128 code points
// spans at least 128 UTF-16 units, so it always covers at least one of them.
const SAMPLE_STEP = 64;

/**
 * Start/end offsets (flattened pairs, ascending, non-overlapping) of every maximal run of at
 * least {@link LONG_RUN_CHARS} code points of one class. The three classes are tracked apart
 * because marks belong to both letters and symbols; overlapping runs are merged.
 *
 * It looks at every {@link SAMPLE_STEP}th character only, and from each one that has a class
 * works out the whole run of that class around it (once per run): every long run covers a
 * sampled character, and ordinary text, whose runs are words and spaces, is read about once in
 * eight characters. Hostile text costs at most one read of each character per class. (A scan of
 * every character took ~10% of the tokenizer's time on prose; a lookbehind regex, 14× longer.)
 */
export function findLongRuns(text: string): number[] {
  if (text.length < LONG_RUN_CHARS) return [];
  const found: Array<[start: number, end: number]> = [];
  // Per class, where the last run worked out ends: a sample before it lies in that run.
  let lettersEnd = 0;
  let symbolsEnd = 0;
  let spacesEnd = 0;
  for (let sample = 0; sample < text.length; sample += SAMPLE_STEP) {
    const at = codePointStart(text, sample);
    const classes = runClasses(codePointAt(text, at));
    if (classes & LETTER && at >= lettersEnd) lettersEnd = runAround(text, at, LETTER, found);
    if (classes & SYMBOL && at >= symbolsEnd) symbolsEnd = runAround(text, at, SYMBOL, found);
    if (classes & SPACE && at >= spacesEnd) spacesEnd = runAround(text, at, SPACE, found);
  }
  if (found.length === 0) return [];

  found.sort((a, b) => a[0] - b[0]);
  const runs = [found[0][0], found[0][1]];
  for (let f = 1; f < found.length; f++) {
    const [start, end] = found[f];
    const last = runs.length - 1;
    if (start <= runs[last]) runs[last] = Math.max(runs[last], end);
    else runs.push(start, end);
  }
  return runs;
}

/**
 * Works out the maximal run of code points of class `cls` around the one starting at `at`,
 * records it in `found` when it is long, and returns where it ends.
 */
function runAround(
  text: string,
  at: number,
  cls: number,
  found: Array<[start: number, end: number]>,
): number {
  let length = 0;
  let start = at;
  while (start > 0) {
    const before = codePointStart(text, start - 1);
    if (!(runClasses(codePointAt(text, before)) & cls)) break;
    start = before;
    length++;
  }
  let end = at;
  while (end < text.length) {
    const code = codePointAt(text, end);
    if (!(runClasses(code) & cls)) break;
    end += code > 0xffff ? 2 : 1;
    length++;
  }
  if (length >= LONG_RUN_CHARS) found.push([start, end]);
  return end;
}

/**
 * The code point at `index` (the start of a code point): a surrogate pair's full code point, or
 * the UTF-16 unit itself (a lone surrogate included).
 */
function codePointAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
    const low = text.charCodeAt(index + 1);
    if (low >= 0xdc00 && low <= 0xdfff) return 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
  }
  return code;
}

/** Where the code point holding UTF-16 unit `index` starts (`index - 1` for a pair's low half). */
function codePointStart(text: string, index: number): number {
  const code = text.charCodeAt(index);
  if (code >= 0xdc00 && code <= 0xdfff && index > 0) {
    const high = text.charCodeAt(index - 1);
    if (high >= 0xd800 && high <= 0xdbff) return index - 1;
  }
  return index;
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
