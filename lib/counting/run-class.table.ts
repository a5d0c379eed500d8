/** Bit set for letters and combining marks (`[\p{L}\p{M}]`). */
export const LETTER = 1;
/** Bit set for symbols and punctuation (`[^\s\p{L}\p{N}]`); marks carry it too. */
export const SYMBOL = 2;
/** Bit set for whitespace (`\s`). */
export const SPACE = 4;

const IS_LETTER = /^[\p{L}\p{M}]$/u;
const IS_SYMBOL = /^[^\s\p{L}\p{N}]$/u;
const IS_SPACE = /^\s$/u;

// Classes of the Basic Multilingual Plane, filled in 256-character blocks the first time a
// character of the block is seen: testing Unicode properties with a regex per character would
// cost more than tokenizing, and a full 64K table would be built even for ASCII-only traffic.
// The table is a pure function of the Unicode data, so sharing it process-wide is safe.
const blocks: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(256);

/**
 * The pre-tokenizer character classes of `code` (a UTF-16 unit outside the surrogate range,
 * or a full code point above U+FFFF), as a bit set of {@link LETTER}, {@link SYMBOL} and
 * {@link SPACE}. Digits (`\p{N}`) have no bit: both encodings cut digit runs every 3 digits.
 */
export function runClasses(code: number): number {
  if (code > 0xffff) return classify(String.fromCodePoint(code));
  const high = code >> 8;
  let block = blocks[high];
  if (block === undefined) {
    block = new Uint8Array(256);
    for (let low = 0; low < 256; low++)
      block[low] = classify(String.fromCharCode((high << 8) | low));
    blocks[high] = block;
  }
  return block[code & 0xff];
}

function classify(char: string): number {
  return (
    (IS_LETTER.test(char) ? LETTER : 0) |
    (IS_SYMBOL.test(char) ? SYMBOL : 0) |
    (IS_SPACE.test(char) ? SPACE : 0)
  );
}
