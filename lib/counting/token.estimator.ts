// Weights fitted against o200k_base on the test corpus (prose in 12 scripts, code, JSON,
// markdown, emoji, base64, hex, random ASCII); test/unit/counting/token.estimator.spec.ts
// pins the resulting error bound.
const LETTERS_PER_TOKEN = 6;
const CASE_SWITCHES_PER_TOKEN = 1.2;
const DIGITS_PER_TOKEN = 3;
const SYMBOLS_PER_TOKEN = 1.5;
const ALPHABETIC_PER_TOKEN = 3;
const COMPLEX_SCRIPT_PER_TOKEN = 2;
const CJK_TOKENS_PER_CHAR = 1.2;
const ASTRAL_TOKENS_PER_CHAR = 2;

// Character classes, also used as run kinds. Plain numbers rather than an enum keep the hot
// loop free of property lookups under every compiler the package is built with.
const NONE = 0;
const LOWER = 1;
const UPPER = 2;
const DIGIT = 3;
const SYMBOL = 4;
const SPACE = 5;
const ALPHABETIC = 6;
const COMPLEX = 7;
const CJK = 8;
const HIGH_SURROGATE = 9;

const ASCII_CLASS = new Uint8Array(128).map((_, code) => {
  if (code >= 0x61 && code <= 0x7a) return LOWER;
  if (code >= 0x41 && code <= 0x5a) return UPPER;
  if (code >= 0x30 && code <= 0x39) return DIGIT;
  if (code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) return SPACE;
  return SYMBOL;
});

/**
 * Fast, tokenizer-free estimate of the token count of `text`, for models with no known
 * encoding (Claude, Llama, Mistral, Gemini…). One pass over the UTF-16 code units with no
 * allocation (~150 MB/s, 5–10× faster than exact counting).
 *
 * It mimics the o200k_base pre-tokenizer: a Latin letter run costs one token per 6 letters or
 * per 1.2 case switches, whichever is more (so random base64 is not priced like prose); digit
 * runs one per 3 digits; symbol runs one per 1.5 symbols; whitespace runs one, unless a single
 * space joining the next word; other alphabets one per 3 letters, abugidas and abjads one per 2;
 * CJK 1.2 per character; emoji and other astral characters 2.
 *
 * Measured against o200k_base on the test corpus: natural text in 12 scripts, code and
 * structured data read 1.0–2.0× the exact count (it over-estimates; 1.05× on the corpus as a
 * whole); random base64, hex, UUIDs, ASCII and emoji 0.85–1.25×; only rare-CJK noise is
 * under-counted (≈0.6×). Other vendors' tokenizers differ from o200k by tens of percent, so
 * this is an estimate for the provider's reported usage to reconcile. Never throws.
 */
export function estimateTokens(text: string): number {
  let tokens = 0;
  let run = NONE;
  let runLength = 0;
  let switches = 0;
  let previous = NONE;
  let spaces = 0;
  let lastSpace = 0;

  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const kind = code < 0x80 ? ASCII_CLASS[code] : classifyNonAscii(code);

    if (kind === SPACE) {
      if (run !== NONE) tokens += runCost(run, runLength, switches);
      run = NONE;
      spaces++;
      lastSpace = code;
      continue;
    }
    if (spaces > 0) {
      // One plain space joins the word or symbol after it (not a number); any other run of
      // whitespace, newlines included, is a token of its own.
      if (spaces > 1 || lastSpace !== 0x20 || kind === DIGIT) tokens += 1;
      spaces = 0;
    }

    const runKind = kind === UPPER ? LOWER : kind;
    if (runKind !== run) {
      if (run !== NONE) tokens += runCost(run, runLength, switches);
      run = NONE;
      runLength = 0;
      switches = 0;
      previous = NONE;
    }
    if (runKind === LOWER || runKind === DIGIT || runKind === SYMBOL) {
      if (run === LOWER && kind !== previous) switches++;
      run = runKind;
      previous = kind;
      runLength++;
    } else if (runKind === ALPHABETIC || runKind === COMPLEX) {
      run = runKind;
      runLength++;
    } else if (kind === CJK) {
      tokens += CJK_TOKENS_PER_CHAR;
    } else if (kind === HIGH_SURROGATE) {
      tokens += ASTRAL_TOKENS_PER_CHAR;
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    } else {
      tokens += 1;
    }
  }
  if (run !== NONE) tokens += runCost(run, runLength, switches);
  if (spaces > 0) tokens += 1;
  return Math.ceil(tokens);
}

function runCost(run: number, length: number, switches: number): number {
  switch (run) {
    case LOWER:
      return Math.max(
        Math.ceil(length / LETTERS_PER_TOKEN),
        Math.ceil((switches + 1) / CASE_SWITCHES_PER_TOKEN),
      );
    case DIGIT:
      return Math.ceil(length / DIGITS_PER_TOKEN);
    case SYMBOL:
      return Math.ceil(length / SYMBOLS_PER_TOKEN);
    case ALPHABETIC:
      return Math.ceil(length / ALPHABETIC_PER_TOKEN);
    case COMPLEX:
      return Math.ceil(length / COMPLEX_SCRIPT_PER_TOKEN);
    default:
      return 0;
  }
}

function classifyNonAscii(code: number): number {
  if (code === 0xa0 || code === 0x2028 || code === 0x2029 || (code >= 0x2000 && code <= 0x200a)) {
    return SPACE;
  }
  // Latin-1 letters through Armenian (Latin Extended, IPA, Greek, Cyrillic): alphabets whose
  // words tokenize a little denser than English. × and ÷ are the only symbols in the range.
  if (code >= 0xc0 && code <= 0x58f) return code === 0xd7 || code === 0xf7 ? SYMBOL : ALPHABETIC;
  // Hebrew, Arabic, the Indic scripts, Thai and the rest up to Latin Extended Additional.
  if (code >= 0x590 && code <= 0x1dff) return COMPLEX;
  if (code >= 0x1e00 && code <= 0x1fff) return ALPHABETIC;
  if (
    (code >= 0x2e80 && code <= 0x9fff) ||
    (code >= 0xac00 && code <= 0xd7af) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xff00 && code <= 0xffef)
  ) {
    return CJK;
  }
  if (code >= 0xd800 && code <= 0xdbff) return HIGH_SURROGATE;
  return SYMBOL;
}
