import { describe, expect, it } from 'vitest';
import { gptTokenizerEncoder } from '../../../lib/counting/gpt-tokenizer.encoder.js';
import { jsTiktokenEncoder } from '../../../lib/counting/js-tiktoken.encoder.js';
import {
  countSplittingLongRuns,
  findLongRuns,
  LONG_RUN_CHARS,
} from '../../../lib/counting/long-run.splitter.js';
import { LETTER, runClasses, SPACE, SYMBOL } from '../../../lib/counting/run-class.table.js';
import { TokenCounter, type EncodingName } from '../../../lib/counting/index.js';
import {
  CORPUS,
  randomBase64,
  randomCjk,
  randomText,
  seededRandom,
} from './token-corpus.fixture.js';

const ENCODINGS: EncodingName[] = ['o200k_base', 'cl100k_base'];
const MB = 1 << 20;
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const WORDS = ['the', 'quick', 'brown', 'fox', 'token', 'budget', 'inter', 'national', 'ization'];

// Inputs whose pre-tokens are long single-class runs: the quadratic case for BPE.
const HOSTILE: Record<string, (length: number, seed: number) => string> = {
  'one letter': (n) => 'a'.repeat(n),
  'random lowercase': (n, s) => randomText(LOWER, n, s),
  'random mixed case': (n, s) => randomText(LOWER + LOWER.toUpperCase(), n, s),
  'words without spaces': (n, s) =>
    Array.from(randomText('012345678', n, s), (d) => WORDS[Number(d)])
      .join('')
      .slice(0, n),
  'rare CJK': (n, s) => randomCjk(n, s),
  'common CJK': (n, s) => randomText('的一是不了人我在有他这为之大来以个中上们', n, s),
  emoji: (n, s) => randomText('😀🚀🎉🔥✨👩‍💻', n, s),
  'accented letters': (n, s) => randomText('éèêëàâäôöûüç', n, s),
  spaces: (n) => ' '.repeat(n),
  'mixed whitespace': (n, s) => randomText(' \t\n', n, s),
  punctuation: (n, s) => randomText('!@#$%^&*()-=_+[]{};:,./<>?', n, s),
  dashes: (n) => '-'.repeat(n),
  'prefixed run': (n, s) => `hello ${randomText(LOWER, n, s)} world`,
};

describe('countSplittingLongRuns', () => {
  it.each(ENCODINGS)('is exact on the corpus apart from its long runs (%s)', (encoding) => {
    const encoder = gptTokenizerEncoder(encoding);
    const split: string[] = [];
    for (const { kind, text } of CORPUS) {
      const bounded = countSplittingLongRuns(text, encoder.count);
      if (bounded === encoder.count(text)) continue;
      expect(bounded, kind).toBeGreaterThan(encoder.count(text));
      split.push(kind);
    }
    // Only the unbroken random runs are split; the markdown's 75-dash rule, JSON, code and
    // natural text in every script stay below the threshold and are counted exactly.
    expect(split).toEqual(['random-cjk', 'random-emoji']);
  });

  describe.each(ENCODINGS)('never under-counts long runs (%s)', (encoding) => {
    const encoder = gptTokenizerEncoder(encoding);
    it.each(Object.keys(HOSTILE))('%s', (name) => {
      const generate = HOSTILE[name];
      for (const length of [LONG_RUN_CHARS, LONG_RUN_CHARS + 1, 300, 1000, 2500]) {
        for (let seed = 1; seed <= 6; seed++) {
          const text = generate(length, seed * 101 + length);
          const exact = encoder.count(text);
          const bounded = countSplittingLongRuns(text, encoder.count);
          expect(bounded, `${name} × ${length}, seed ${seed}`).toBeGreaterThanOrEqual(exact);
          // …and over-counts by a bounded amount: 2 per cut plus what the cut itself costs.
          expect(bounded).toBeLessThanOrEqual(exact + 6 * Math.ceil(text.length / LONG_RUN_CHARS));
        }
      }
    });
  });

  it('hands the tokenizer no piece longer than the run limit inside a long run', () => {
    const pieces: string[] = [];
    const record = (piece: string): number => {
      pieces.push(piece);
      return 1;
    };
    countSplittingLongRuns(`start ${'a'.repeat(10_000)} end`, record);
    expect(pieces.join('')).toBe(`start ${'a'.repeat(10_000)} end`);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThanOrEqual(LONG_RUN_CHARS);
  });

  it('cuts every run the pre-tokenizer classes would form, on random mixed-class text', () => {
    // Reference: the same three classes as a (slow) regex, matched from each run's start.
    const reference = new RegExp(
      `(?<![\\p{L}\\p{M}])[\\p{L}\\p{M}]{${LONG_RUN_CHARS},}` +
        `|(?<![^\\s\\p{L}\\p{N}])[^\\s\\p{L}\\p{N}]{${LONG_RUN_CHARS},}` +
        `|(?<!\\s)\\s{${LONG_RUN_CHARS},}`,
      'gu',
    );
    const alphabets = [
      'abcXYZ',
      'éüñ中文字',
      '\u0301\u0308',
      '!?-/',
      ' \t\n\u3000',
      '0123٣',
      '😀🚀𝐀',
    ];
    for (let seed = 1; seed <= 300; seed++) {
      const next = seededRandom(seed);
      let text = '';
      while (text.length < 2000) {
        const alphabet = alphabets[Math.floor(next() * alphabets.length)];
        text += randomText(alphabet, Math.floor(next() * 300), seed * 7 + text.length);
      }
      const pieces: Array<[number, number]> = [];
      let offset = 0;
      countSplittingLongRuns(text, (piece) => {
        pieces.push([offset, offset + piece.length]);
        offset += piece.length;
        return 0;
      });
      expect(offset).toBe(text.length);
      for (const match of text.matchAll(reference)) {
        const runEnd = match.index + match[0].length;
        for (const [start, end] of pieces) {
          const overlap = Math.min(end, runEnd) - Math.max(start, match.index);
          expect(overlap, `seed ${seed}`).toBeLessThanOrEqual(LONG_RUN_CHARS);
        }
      }
    }
  });

  it('finds exactly the runs a scan of every character finds', () => {
    // Reference: every code point read, one counter per class (what findLongRuns samples).
    const scan = (text: string): number[] => {
      const found: Array<[number, number]> = [];
      const counts = [0, 0, 0];
      const starts = [0, 0, 0];
      const classes = [LETTER, SYMBOL, SPACE];
      for (let i = 0; i <= text.length;) {
        const code = i < text.length ? text.codePointAt(i)! : -1;
        const bits = code < 0 ? 0 : runClasses(code);
        for (let c = 0; c < 3; c++) {
          if (bits & classes[c]) {
            if (counts[c]++ === 0) starts[c] = i;
          } else {
            if (counts[c] >= LONG_RUN_CHARS) found.push([starts[c], i]);
            counts[c] = 0;
          }
        }
        i += code > 0xffff ? 2 : 1;
      }
      found.sort((a, b) => a[0] - b[0]);
      const runs: number[] = [];
      for (const [start, end] of found) {
        const last = runs.length - 1;
        if (runs.length > 0 && start <= runs[last]) runs[last] = Math.max(runs[last], end);
        else runs.push(start, end);
      }
      return runs;
    };
    const alphabets = [
      'abcXYZ',
      'éüñ中文字',
      '\u0301\u0308',
      '!?-/',
      ' \t\n\u3000',
      '0123٣',
      '😀🚀𝐀',
      '\ud800\udc00\udfff',
    ];
    for (let seed = 1; seed <= 400; seed++) {
      const next = seededRandom(seed);
      let text = '';
      while (text.length < 3000) {
        const alphabet = alphabets[Math.floor(next() * alphabets.length)];
        const length = Math.floor(next() * (next() < 0.2 ? 400 : 150));
        text += randomText(alphabet, length, seed * 13 + text.length);
      }
      expect(findLongRuns(text), `seed ${seed}`).toEqual(scan(text));
    }
    for (const text of CORPUS.map((c) => c.text)) expect(findLongRuns(text)).toEqual(scan(text));
  });

  it('never cuts a surrogate pair in half', () => {
    const text = randomText('😀🚀🎉𝐀𝐁𝐂', 5_000, 7);
    const pieces: string[] = [];
    countSplittingLongRuns(text, (piece) => {
      pieces.push(piece);
      return 0;
    });
    expect(pieces.join('')).toBe(text);
    for (const piece of pieces) {
      // With the u flag, \p{Cs} only matches a surrogate that is not part of a pair.
      expect(/\p{Cs}/u.test(piece)).toBe(false);
    }
  });

  it('adds two tokens per cut to the pieces it counts', () => {
    const text = 'b'.repeat(LONG_RUN_CHARS * 3);
    // Three chunks, two cuts, each chunk "costs" 10.
    expect(countSplittingLongRuns(text, () => 10)).toBe(3 * 10 + 2 * 2);
    expect(countSplittingLongRuns('short text', () => 10)).toBe(10);
  });
});

describe('hostile input of 1 MB completes (times are measured in the report, not asserted)', () => {
  const counter = new TokenCounter({ cacheSize: 0 });

  it.each([
    ['1 MB of "a"', () => 'a'.repeat(MB)],
    ['1 MB of random base64', () => randomBase64(MB, 11)],
    ['1 MB of CJK (UTF-8)', () => randomCjk(Math.floor(MB / 3), 12)],
    ['1 MB of spaces', () => ' '.repeat(MB)],
  ])('%s', (_name, generate) => {
    const text = generate();
    for (const model of ['gpt-4o', 'gpt-4']) {
      const count = counter.count(text, model);
      // These inputs are uniform, so the whole costs about as much as its first 4 KB scaled
      // up; a splitting bug that dropped or double-counted text would leave this band.
      const scaled = (counter.count(text.slice(0, 4096), model) * text.length) / 4096;
      expect(count).toBeGreaterThanOrEqual(0.9 * scaled);
      expect(count).toBeLessThanOrEqual(1.1 * scaled);
      // No token is shorter than a byte, and each cut adds 2.
      const cuts = Math.ceil(text.length / LONG_RUN_CHARS);
      expect(count).toBeLessThanOrEqual(Buffer.byteLength(text) + 2 * cuts);
    }
  });

  it('base64 has no long runs, so its count is exact', () => {
    const text = randomBase64(MB / 4, 13);
    expect(counter.count(text, 'gpt-4o')).toBe(gptTokenizerEncoder('o200k_base').count(text));
  });

  it('js-tiktoken is bounded the same way (smaller input: it is ~10× slower)', () => {
    const slow = new TokenCounter({ backend: 'js-tiktoken', cacheSize: 0 });
    const text = 'a'.repeat(32_000);
    expect(slow.count(text, 'gpt-4o')).toBe(counter.count(text, 'gpt-4o'));
    expect(jsTiktokenEncoder('o200k_base').count('a'.repeat(2_000))).toBeLessThanOrEqual(
      slow.count('a'.repeat(2_000), 'gpt-4o'),
    );
  });
});
