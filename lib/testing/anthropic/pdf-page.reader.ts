import { inflateSync } from 'node:zlib';

/**
 * The pages of a base64 PDF as the fake bills them: its page objects (`/Type /Page`, names with
 * `#xx` escapes decoded), in the file and in every Flate-compressed stream (PDF 1.5 object
 * streams, where most producers write them); at least 1.
 */
export function readPdfPages(base64: string): number {
  const file = Buffer.from(base64, 'base64').toString('latin1');
  const texts = [file];
  for (const match of file.matchAll(/stream\r?\n/g)) {
    const start = match.index + match[0].length;
    const end = file.indexOf('endstream', start);
    if (end < 0) continue;
    try {
      const data = Buffer.from(file.slice(start, end), 'latin1');
      texts.push(inflateSync(data, { finishFlush: 2 }).toString('latin1'));
    } catch {
      // Not Flate data (an image, an uncompressed stream already in the file's text).
    }
  }
  let pages = 0;
  for (const text of texts) {
    const names = text.replace(/#([0-9A-Fa-f]{2})/g, (_, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
    pages += names.match(/\/Type\s*\/Page(?![A-Za-z0-9])/g)?.length ?? 0;
  }
  return Math.max(1, pages);
}
