/**
 * The fake's own approximation of Claude's tokenizers. Anthropic publishes no tokenizer for current
 * models, so this is a deterministic stand-in with written rules, independent of Tokencap's
 * counting, so that the fake bills like a separate provider would, not like the code under test.
 *
 * Text is cut into pieces the way byte-pair encoders pre-tokenize: a single space joins the word,
 * number or punctuation run after it; other whitespace stands alone; a contraction suffix (`'s`,
 * `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) is a piece of its own. Words are then split where the case
 * goes from lower to upper (`getUserName` → get·User·Name), at the end of an all-caps run
 * (`HTTPServer` → HTTP·Server) and where the script changes. Costs per piece:
 *
 * | piece                                 | `claude-3`      | `claude-4.7`    |
 * | ------------------------------------- | --------------- | --------------- |
 * | Latin word segment of L letters       | ceil(L / 6)     | ceil(L / 4)     |
 * | Cyrillic or Greek segment             | ceil(L / 2)     | ceil(L / 2)     |
 * | Han, kana, Hangul, other scripts      | 1 per character | 1 per character |
 * | contraction suffix                    | 1               | 1               |
 * | digits                                | ceil(n / 3)     | ceil(n / 3)     |
 * | ASCII punctuation run of n            | ceil(n / 2)     | ceil(n / 2)     |
 * | one ASCII symbol repeated (`-----`)   | ceil(n / 8)     | ceil(n / 8)     |
 * | other symbol; astral (emoji)          | 1; 3            | 1; 3            |
 * | whitespace not joined to a piece      | ceil(newlines / 2) + ceil(other / 4) |
 *
 * `claude-3` stands for Claude 3 to Claude Opus 4.6 / Sonnet 4.6 / Haiku 4.5; `claude-4.7` for the
 * denser tokenizer introduced with Claude Opus 4.7 (Anthropic: up to about 1.35x as many tokens for
 * the same text). Measured on Tokencap's test corpus against `cl100k_base`: `claude-3` counts
 * 1.18x on English prose, 1.2-1.5x on code, JSON and Markdown, 0.85-1x on CJK; `claude-4.7` counts
 * 1.1-1.2x `claude-3` on English and code, about the same elsewhere. It is a plausible, stable,
 * documented provider, not Claude's real count.
 *
 * Counting is additive at whitespace: count(a + b) = count(a) + count(b) when `a` ends with a
 * visible character and `b` starts with whitespace, which is how the fake streams deltas whose
 * counts add up exactly, and writes replies of an exact length.
 */
export type ClaudeTokenizer = 'claude-3' | 'claude-4.7';

interface Divisors {
  latin: number;
  cyrillicGreek: number;
}

const DIVISORS: Readonly<Record<ClaudeTokenizer, Divisors>> = {
  'claude-3': { latin: 6, cyrillicGreek: 2 },
  'claude-4.7': { latin: 4, cyrillicGreek: 2 },
};

const LETTER = /[\p{L}\p{M}]/u;
const DIGIT = /\p{N}/u;
const WHITESPACE = /\s/u;
const UPPER = /\p{Lu}/u;
const LOWER = /\p{Ll}/u;
const LATIN = /\p{Script=Latin}/u;
const CYRILLIC_GREEK = /[\p{Script=Cyrillic}\p{Script=Greek}]/u;
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const CONTRACTION = /^['’](?:s|t|re|ve|m|ll|d)(?![\p{L}\p{M}])/iu;

type Script = 'latin' | 'cyrillic-greek' | 'cjk' | 'other' | 'mark';

/** Counts the tokens of `text` under `tokenizer`; see the module comment for the rules. */
export function countClaudeTokens(text: string, tokenizer: ClaudeTokenizer): number {
  const divisors = DIVISORS[tokenizer];
  const chars = Array.from(text);
  let tokens = 0;
  let i = 0;
  while (i < chars.length) {
    const c = chars[i]!;
    if (WHITESPACE.test(c)) {
      let j = i;
      while (j < chars.length && WHITESPACE.test(chars[j]!)) j++;
      // A single trailing space before a visible character belongs to the piece that follows.
      const end = j < chars.length && chars[j - 1] === ' ' ? j - 1 : j;
      tokens += whitespaceCost(chars, i, end);
      i = end < j ? consumePiece(chars, j, divisors, (n) => (tokens += n)) : j;
      continue;
    }
    i = consumePiece(chars, i, divisors, (n) => (tokens += n));
  }
  return tokens;
}

/** Counts the piece starting at `start` (a non-space character) and returns where it ends. */
function consumePiece(
  chars: readonly string[],
  start: number,
  divisors: Divisors,
  add: (tokens: number) => void,
): number {
  const c = chars[start]!;
  if ((c === "'" || c === '’') && CONTRACTION.test(chars.slice(start, start + 4).join(''))) {
    const suffix = CONTRACTION.exec(chars.slice(start, start + 4).join(''))![0];
    add(1);
    return start + Array.from(suffix).length;
  }
  let end = start + 1;
  if (LETTER.test(c)) {
    while (end < chars.length && LETTER.test(chars[end]!)) end++;
    add(wordCost(chars.slice(start, end), divisors));
  } else if (DIGIT.test(c)) {
    while (end < chars.length && DIGIT.test(chars[end]!)) end++;
    add(Math.ceil((end - start) / 3));
  } else {
    while (end < chars.length && isSymbol(chars[end]!)) {
      if (chars[end] === "'" || chars[end] === '’') {
        if (CONTRACTION.test(chars.slice(end, end + 4).join(''))) break;
      }
      end++;
    }
    add(symbolCost(chars.slice(start, end)));
  }
  return end;
}

function isSymbol(c: string): boolean {
  return !WHITESPACE.test(c) && !LETTER.test(c) && !DIGIT.test(c);
}

function whitespaceCost(chars: readonly string[], start: number, end: number): number {
  let newlines = 0;
  let others = 0;
  for (let k = start; k < end; k++) {
    if (chars[k] === '\n') newlines++;
    else others++;
  }
  return Math.ceil(newlines / 2) + Math.ceil(others / 4);
}

function symbolCost(symbols: readonly string[]): number {
  // Rules and separators (`-----`, `=====`) are common enough to be long single tokens.
  if (symbols.length > 2 && symbols.every((s) => s === symbols[0] && s.charCodeAt(0) < 0x80)) {
    return Math.ceil(symbols.length / 8);
  }
  let ascii = 0;
  let cost = 0;
  for (const s of symbols) {
    if (s.length > 1) cost += 3;
    else if (s.charCodeAt(0) < 0x80) ascii++;
    else cost += 1;
  }
  return cost + Math.ceil(ascii / 2);
}

/** Splits a word at case changes and script changes, then prices each segment. */
function wordCost(letters: readonly string[], divisors: Divisors): number {
  let cost = 0;
  let segmentStart = 0;
  let segmentScript = scriptOf(letters[0]!);
  for (let k = 1; k <= letters.length; k++) {
    if (k < letters.length) {
      const script = scriptOf(letters[k]!);
      const sameScript = script === segmentScript || script === 'mark';
      if (sameScript && !caseBoundary(letters, k)) continue;
      cost += segmentCost(segmentScript, k - segmentStart, divisors);
      segmentStart = k;
      segmentScript = script === 'mark' ? segmentScript : script;
    } else {
      cost += segmentCost(segmentScript, k - segmentStart, divisors);
    }
  }
  return cost;
}

/** `aB` starts a segment at B; `ABc` starts one at B (the end of an all-caps run). */
function caseBoundary(letters: readonly string[], k: number): boolean {
  const previous = letters[k - 1]!;
  const current = letters[k]!;
  if (!UPPER.test(current)) return false;
  if (LOWER.test(previous)) return true;
  const next = letters[k + 1];
  return UPPER.test(previous) && next !== undefined && LOWER.test(next);
}

function scriptOf(c: string): Script {
  if (LATIN.test(c)) return 'latin';
  if (CJK.test(c)) return 'cjk';
  if (CYRILLIC_GREEK.test(c)) return 'cyrillic-greek';
  if (/\p{M}/u.test(c)) return 'mark';
  return 'other';
}

function segmentCost(script: Script, length: number, divisors: Divisors): number {
  switch (script) {
    case 'latin':
      return Math.ceil(length / divisors.latin);
    case 'cyrillic-greek':
      return Math.ceil(length / divisors.cyrillicGreek);
    case 'cjk':
      return length;
    default:
      return length;
  }
}
