// Deterministic text corpora for the counting benchmark, built from files every `npm install`
// puts in node_modules (pinned by package-lock.json), so no download and no fixture to ship:
// - prose: paragraphs of package READMEs (code blocks, tables, HTML and link-only lines dropped),
// - code: TypeScript's compiler source (typescript/lib/typescript.js),
// - json: the package.json manifests of the installed packages, as they are on disk.
// Each corpus is cut into chat-message-sized chunks at line boundaries.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CorpusName = 'prose' | 'code' | 'json';

export interface Corpus {
  name: CorpusName;
  chunks: string[];
  /** UTF-8 bytes of all chunks. */
  bytes: number;
}

/** Installed package directories, sorted (scoped ones included). */
function packages(nodeModules: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(nodeModules).sort()) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const sub of readdirSync(join(nodeModules, entry)).sort())
        out.push(join(nodeModules, entry, sub));
    } else {
      out.push(join(nodeModules, entry));
    }
  }
  return out;
}

function proseOf(markdown: string): string[] {
  const paragraphs: string[] = [];
  let inFence = false;
  let current: string[] = [];
  const flush = () => {
    const text = current.join(' ').trim();
    // Keep paragraphs that read as sentences: long enough and mostly letters and spaces.
    const letters = text.replace(/[^A-Za-z ]/g, '').length;
    if (text.length >= 120 && letters / text.length > 0.85) paragraphs.push(text);
    current = [];
  };
  for (const line of markdown.split('\n')) {
    if (line.trimStart().startsWith('```')) {
      inFence = !inFence;
      flush();
      continue;
    }
    if (inFence) continue;
    const t = line.trim();
    if (
      t === '' ||
      t.startsWith('#') ||
      t.startsWith('|') ||
      t.startsWith('<') ||
      t.startsWith('[!') ||
      t.startsWith('    ')
    ) {
      flush();
      continue;
    }
    current.push(t);
  }
  flush();
  return paragraphs;
}

/** Joins pieces into chunks of about `chunkChars`, never splitting a piece. */
function chunk(
  pieces: Iterable<string>,
  separator: string,
  chunkChars: number,
  totalChars: number,
): string[] {
  const chunks: string[] = [];
  let current = '';
  let total = 0;
  for (const piece of pieces) {
    current = current === '' ? piece : current + separator + piece;
    if (current.length >= chunkChars) {
      chunks.push(current);
      total += current.length;
      current = '';
      if (total >= totalChars) break;
    }
  }
  if (current !== '' && total < totalChars) chunks.push(current);
  return chunks;
}

function* lines(text: string): Iterable<string> {
  yield* text.split('\n');
}

/** Builds the three corpora, each about `totalChars` long, in chunks of about `chunkChars`. */
export function loadCorpora(root: string, totalChars: number, chunkChars: number): Corpus[] {
  const nodeModules = join(root, 'node_modules');
  const dirs = packages(nodeModules);

  const paragraphs: string[] = [];
  for (const dir of dirs) {
    const readme = ['README.md', 'readme.md', 'Readme.md']
      .map((f) => join(dir, f))
      .find((f) => existsSync(f));
    if (readme) paragraphs.push(...proseOf(readFileSync(readme, 'utf8')));
  }
  const prose = chunk(paragraphs, '\n\n', chunkChars, totalChars);

  const typescript = readFileSync(join(nodeModules, 'typescript', 'lib', 'typescript.js'), 'utf8');
  // Compiler code from 40% of the way in (the start is mostly diagnostic-message tables).
  const code = chunk(
    lines(typescript.slice(Math.floor(typescript.length * 0.4))),
    '\n',
    chunkChars,
    totalChars,
  );

  const manifests: string[] = [];
  for (const dir of dirs) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) manifests.push(readFileSync(file, 'utf8').trim());
  }
  // Whole documents, as tool arguments and structured outputs are: a chunk is one or more manifests.
  const json = chunk(manifests, '\n', chunkChars, totalChars);

  return (
    [
      ['prose', prose],
      ['code', code],
      ['json', json],
    ] as const
  ).map(([name, chunks]) => ({
    name,
    chunks: [...chunks],
    bytes: chunks.reduce((s, c) => s + Buffer.byteLength(c), 0),
  }));
}
