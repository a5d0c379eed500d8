import { inflateSync } from 'node:zlib';

/**
 * The most pages Anthropic reads from one request's PDFs (100 on most models, 600 on models with a
 * 1M-token context): what a PDF whose pages cannot be counted for sure reserves.
 */
export const MAX_PDF_PAGES = 600;

// Inflated object streams of one PDF, at most: a larger total is a decompression bomb or a PDF
// this counter cannot be sure about, so it reserves MAX_PDF_PAGES.
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/**
 * The pages a base64 PDF may have, never fewer than Anthropic reads: the most of three counts,
 * over the file and its object streams (PDF 1.5+, where most producers write the page objects,
 * compressed): `/Type /Page` objects, the largest `/Count` of a page tree node, and every reference
 * in every `/Kids` array (a page reader finds pages through the tree, with or without `/Type`; the
 * references also count the inner nodes of the tree, so large documents are counted a little
 * high). Names are read with their `#xx` escapes decoded (`/P#61ge` is `/Page`). When the count
 * cannot be sure (an object stream that is not Flate-compressed or does not inflate, an
 * encrypted file with object streams, no page found at all, or not a PDF) it is
 * {@link MAX_PDF_PAGES}: fail closed. Never throws.
 */
export function pdfPageCount(base64: unknown): number {
  if (typeof base64 !== 'string') return MAX_PDF_PAGES;
  const file = Buffer.from(base64, 'base64').toString('latin1');
  const texts = [decodeNames(file)];
  const streams = objectStreams(file);
  if (streams === undefined) return MAX_PDF_PAGES;
  if (streams.length > 0 && /\/Encrypt\b/.test(texts[0])) return MAX_PDF_PAGES;
  texts.push(...streams.map(decodeNames));
  let typed = 0;
  let count = 0;
  let kids = 0;
  for (const text of texts) {
    typed += text.match(/\/Type\s*\/Page(?![A-Za-z0-9])/g)?.length ?? 0;
    for (const [, n] of text.matchAll(/\/Count\s+\+?(\d{1,9})/g))
      count = Math.max(count, Number(n));
    for (const [, list] of text.matchAll(/\/Kids\s*\[([^\]]*)\]/g)) {
      kids += list.match(/\d+\s+\d+\s+R/g)?.length ?? 0;
    }
  }
  const pages = Math.max(typed, count, kids);
  return pages > 0 ? pages : MAX_PDF_PAGES;
}

/** `#xx` escapes in names decoded, so an escaped `/Type /Page` is found. */
function decodeNames(text: string): string {
  return text.includes('#')
    ? text.replace(/#([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    : text;
}

/**
 * The inflated text of every object stream (`/Type /ObjStm`) of a PDF, or `undefined` when one
 * cannot be read (a filter other than one FlateDecode, a stream that does not inflate, too much
 * inflated data).
 */
function objectStreams(file: string): string[] | undefined {
  const out: string[] = [];
  let total = 0;
  const opening = /stream\r?\n/g;
  for (let match = opening.exec(file); match !== null; match = opening.exec(file)) {
    const start = match.index + match[0].length;
    const dictStart = file.lastIndexOf('obj', match.index);
    const dict = decodeNames(file.slice(dictStart < 0 ? 0 : dictStart, match.index));
    const end = file.indexOf('endstream', start);
    const stop = end < 0 ? file.length : end;
    opening.lastIndex = end < 0 ? file.length : end + 'endstream'.length;
    if (!/\/Type\s*\/ObjStm\b/.test(dict)) continue;
    const data = Buffer.from(file.slice(start, stop), 'latin1');
    const filter = /\/Filter\s*(\[[^\]]*\]|\/[A-Za-z0-9]+)/.exec(dict)?.[1];
    if (filter === undefined) {
      out.push(data.toString('latin1'));
      continue;
    }
    if (!/^(\[\s*)?\/FlateDecode(\s*\])?$/.test(filter.trim())) return undefined;
    try {
      const inflated = inflateSync(data, {
        finishFlush: 2, // Z_SYNC_FLUSH: a stream whose last bytes are missing still inflates.
        maxOutputLength: MAX_INFLATED_BYTES - total,
      });
      total += inflated.length;
      out.push(inflated.toString('latin1'));
    } catch {
      return undefined;
    }
  }
  return out;
}
