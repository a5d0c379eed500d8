import { claudeOutputFloor } from './claude-output.floor.js';
import type { ClaudeTokenizerGeneration } from './claude-tokenizer.generation.js';

// Claude has no public tokenizer, so its counts are bounded from above by written rules in the
// shape byte-pair encoders pre-tokenize text (runs of letters, digits, symbols and whitespace; words
// split where the case changes), each run priced at or above what any measured Claude tokenizer
// charges for it. test/unit/anthropic/claude-estimator.corpus.spec.ts measures the result against
// the testing kit's independent Claude counter (both generations), against Anthropic's published
// counts and ratios, and with a property test over generated text; docs/anthropic.md gives the
// bias and the error bound. Latin words are the one class that differs by generation: the dense
// tokenizer of Claude Opus 4.7 and later splits them more, and Anthropic says it takes up to
// 1.35× the tokens of the classic one on any content: the dense estimate is the larger of its own
// rules and 1.35× the classic estimate. Both carry a 10% margin over the rules for tokenizers the
// rules do not describe exactly (the rules alone sit at 1.19× GPT-4o on LaTeX math, where Claude 3.5
// is published at 1.21×).
const CLASSIC_LETTERS_PER_TOKEN = 5;
const DENSE_LETTERS_PER_TOKEN = 3.5;
const DENSE_OVER_CLASSIC = 1.35;
const MARGIN = 1.1;
/** Greek and Cyrillic letters per token. */
const ALPHABET_LETTERS_PER_TOKEN = 1.5;
const DIGITS_PER_TOKEN = 2;
/** Tokens per ASCII punctuation character in a mixed run; a run of one repeated character is cheaper. */
const PUNCTUATION_TOKENS = 0.75;
const REPEATED_PUNCTUATION_PER_TOKEN = 4;
/** Tokens per character of CJK, Hebrew, Arabic, Indic and other scripts. */
const SCRIPT_TOKENS = 1.25;
/** A non-ASCII symbol of the Basic Multilingual Plane. */
const SYMBOL_TOKENS = 1.5;
/** An astral character (emoji): byte-level fallbacks. */
const ASTRAL_TOKENS = 4;
/** Whitespace other than newlines, per token. */
const SPACES_PER_TOKEN = 2;

const NONE = 0;
const SPACE = 1;
const LATIN = 2;
const ALPHABET = 3;
const MARK = 4;
const DIGIT = 5;
const PUNCT = 6;
const SCRIPT = 7;
const SYMBOL = 8;
const ASTRAL = 9;

/**
 * An upper estimate of Claude's token count of `text` under `generation`: on the measured corpus
 * (prose in 12 scripts, code, JSON, Markdown, tool schemas, emoji, random data) and on generated
 * text never below the reference counts. One pass, no allocation for ASCII; never throws.
 */
export function estimateClaudeTokens(text: string, generation: ClaudeTokenizerGeneration): number {
  const classic = MARGIN * ruleCount(text, CLASSIC_LETTERS_PER_TOKEN);
  if (generation === 'classic') return Math.ceil(classic);
  return Math.ceil(
    Math.max(MARGIN * ruleCount(text, DENSE_LETTERS_PER_TOKEN), DENSE_OVER_CLASSIC * classic),
  );
}

/** The tokens of `text` by the rules above, Latin words at `latinDivisor` letters per token. */
function ruleCount(text: string, latinDivisor: number): number {
  let tokens = 0;
  let i = 0;
  while (i < text.length) {
    const kind = classOf(text.charCodeAt(i));
    const start = i;
    switch (kind) {
      case SPACE: {
        let newlines = 0;
        while (i < text.length && classOf(text.charCodeAt(i)) === SPACE) {
          if (text.charCodeAt(i) === 0x0a) newlines++;
          i++;
        }
        let others = i - start - newlines;
        // One plain space before a visible character joins the piece after it.
        if (i < text.length && text.charCodeAt(i - 1) === 0x20) others--;
        tokens += newlines + Math.ceil(others / SPACES_PER_TOKEN);
        break;
      }
      case LATIN:
      case ALPHABET: {
        i = word(text, i, kind);
        const cost = segmentsCost(
          text,
          start,
          i,
          kind === LATIN ? latinDivisor : ALPHABET_LETTERS_PER_TOKEN,
        );
        // Combining marks (Zalgo text stacks them at random) do not merge with their letters: a
        // word that has any is priced at its UTF-8 bytes, which no byte-level BPE exceeds.
        // Accents written decomposed (NFD) pay that too.
        tokens += hasMark(text, start, i) ? Math.max(cost, utf8Bytes(text, start, i)) : cost;
        break;
      }
      case DIGIT:
        while (i < text.length && classOf(text.charCodeAt(i)) === DIGIT) i++;
        tokens += Math.ceil((i - start) / DIGITS_PER_TOKEN);
        break;
      case PUNCT: {
        let same = true;
        while (i < text.length && classOf(text.charCodeAt(i)) === PUNCT) {
          if (text.charCodeAt(i) !== text.charCodeAt(start)) same = false;
          i++;
        }
        const n = i - start;
        tokens +=
          same && n > 2
            ? Math.ceil(n / REPEATED_PUNCTUATION_PER_TOKEN)
            : Math.ceil(n * PUNCTUATION_TOKENS);
        break;
      }
      case ASTRAL: {
        tokens += ASTRAL_TOKENS;
        const next = text.charCodeAt(i + 1);
        i += next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
        break;
      }
      case SCRIPT:
        tokens += SCRIPT_TOKENS;
        i++;
        break;
      default:
        // Marks without a letter, other symbols, lone surrogates.
        tokens += SYMBOL_TOKENS;
        i++;
    }
  }
  return tokens;
}

/**
 * A low count of Claude output text, for the stream cut and the seen-output estimate: never above
 * Claude's own count of any text (see {@link claudeOutputFloor}), and counting deltas one by one
 * never gives less than the whole text.
 */
export function countClaudeOutputLow(text: string): number {
  return claudeOutputFloor(text);
}

/** Whether a combining mark (U+0300–U+036F) lies between `start` and `end`. */
function hasMark(text: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    const code = text.charCodeAt(k);
    if (code >= 0x300 && code <= 0x36f) return true;
  }
  return false;
}

/** UTF-8 bytes of the text between `start` and `end` (a surrogate is half of 4 bytes). */
function utf8Bytes(text: string, start: number, end: number): number {
  let bytes = 0;
  for (let k = start; k < end; k++) {
    const code = text.charCodeAt(k);
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code <= 0xdfff ? 2 : 3;
  }
  return bytes;
}

/** The end of the word of `kind` letters (combining marks included) starting at `start`. */
function word(text: string, start: number, kind: number): number {
  let i = start + 1;
  while (i < text.length) {
    const next = classOf(text.charCodeAt(i));
    if (next !== kind && next !== MARK) break;
    i++;
  }
  return i;
}

/**
 * A word's cost: split where lower case turns upper (`getUser` → get·User) and where a run of
 * capitals ends before a lower-case letter (`HTTPServer` → HTTP·Server), each segment priced at
 * `divisor` letters per token, rounded up.
 */
function segmentsCost(text: string, start: number, end: number, divisor: number): number {
  let cost = 0;
  let segment = start;
  for (let k = start + 1; k < end; k++) {
    const here = caseOf(text.charCodeAt(k));
    if (here !== UPPER) continue;
    const before = caseOf(text.charCodeAt(k - 1));
    const after = k + 1 < end ? caseOf(text.charCodeAt(k + 1)) : NONE;
    if (before === LOWER || (before === UPPER && after === LOWER)) {
      cost += Math.ceil((k - segment) / divisor);
      segment = k;
    }
  }
  return cost + Math.ceil((end - segment) / divisor);
}

const UPPER = 1;
const LOWER = 2;

function caseOf(code: number): number {
  if (code >= 0x41 && code <= 0x5a) return UPPER;
  if (code >= 0x61 && code <= 0x7a) return LOWER;
  if (code < 0xc0) return NONE;
  const char = String.fromCharCode(code);
  if (char !== char.toLowerCase()) return UPPER;
  if (char !== char.toUpperCase()) return LOWER;
  return NONE;
}

function classOf(code: number): number {
  if (code < 0x80) {
    if ((code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a)) return LATIN;
    if (code >= 0x30 && code <= 0x39) return DIGIT;
    if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) return SPACE;
    return PUNCT;
  }
  if (code === 0xa0 || code === 0x85 || code === 0x1680 || code === 0x3000) return SPACE;
  if ((code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029) return SPACE;
  if (code === 0x202f || code === 0x205f) return SPACE;
  if (code >= 0xc0 && code <= 0x24f) return code === 0xd7 || code === 0xf7 ? SYMBOL : LATIN;
  if (code >= 0x250 && code <= 0x2af) return LATIN; // IPA
  if (code >= 0x300 && code <= 0x36f) return MARK;
  if (code >= 0x370 && code <= 0x52f) return ALPHABET; // Greek, Cyrillic
  if (code >= 0x1e00 && code <= 0x1eff) return LATIN;
  if (code >= 0x1f00 && code <= 0x1fff) return ALPHABET; // Greek Extended
  if (code >= 0x530 && code <= 0x1dff) return SCRIPT; // Armenian, Hebrew, Arabic, Indic, Thai…
  if (
    (code >= 0x2e80 && code <= 0x9fff) ||
    (code >= 0xa000 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7af) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xff66 && code <= 0xffdc)
  ) {
    return SCRIPT;
  }
  if (code >= 0xd800 && code <= 0xdbff) return ASTRAL;
  return SYMBOL;
}
