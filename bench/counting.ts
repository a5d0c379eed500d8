// Section 3: token counting throughput of Tokencap's countTokens against the tokenizers used
// directly (js-tiktoken, gpt-tokenizer, tiktoken WASM) on prose, code and JSON; that every one
// gives the same counts; and the cold-start cost of importing `tokencap`.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countTokens as gptCountTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { getEncoding } from 'js-tiktoken';
import { countTokens, TokenCounter } from '../lib/counting/index.js';
import { type Corpus, loadCorpora } from './corpus.js';
import {
  fmtCount,
  fmtRatio,
  fmtUs,
  interleave,
  median,
  quantile,
  type Row,
  type SectionResult,
  size,
} from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const MODEL = 'gpt-4o'; // o200k_base

interface Contender {
  name: string;
  count: (text: string) => number;
}

// tiktoken's CommonJS entry loads its WASM synchronously; its typings are those of the ESM build.
interface TiktokenWasm {
  get_encoding(name: 'o200k_base'): { encode(text: string): Uint32Array; free(): void };
}

function contenders(): { list: Contender[]; free: () => void } {
  const jsTiktoken = getEncoding('o200k_base');
  const wasm = (createRequire(import.meta.url)('tiktoken') as TiktokenWasm).get_encoding(
    'o200k_base',
  );
  const viaJsTiktoken = new TokenCounter({ backend: 'js-tiktoken' });
  return {
    list: [
      // As an application would call each one: the default API, special-token checks included.
      { name: 'js-tiktoken (direct)', count: (t) => jsTiktoken.encode(t).length },
      { name: 'gpt-tokenizer (direct)', count: (t) => gptCountTokens(t) },
      { name: 'tiktoken WASM (direct)', count: (t) => wasm.encode(t).length },
      { name: 'tokencap countTokens', count: (t) => countTokens(t, MODEL) },
      { name: "tokencap, backend 'js-tiktoken'", count: (t) => viaJsTiktoken.count(t, MODEL) },
    ],
    free: () => wasm.free(),
  };
}

/** Total tokens of `chunks`. */
function countAll(c: Contender, chunks: readonly string[]): number {
  let total = 0;
  for (const chunk of chunks) total += c.count(chunk);
  return total;
}

async function throughputRows(
  corpora: Corpus[],
  rounds: number,
): Promise<{ rows: Row[]; notes: string[] }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const { list, free } = contenders();
  // Load every table first: first-use cost is reported by the cold-start rows, not here.
  for (const c of list) c.count('warm up');
  for (const corpus of corpora) {
    let round = 0;
    // Each round counts fresh strings (a round tag in front of every chunk): Tokencap caches counts
    // of strings it has seen, which would otherwise answer every round after the first.
    const fresh = () => corpus.chunks.map((chunk) => `#${round} ${chunk}`);
    const totals = new Map<string, number>();
    const variants: Record<string, () => number> = {};
    let chunks = fresh();
    let done = 0;
    for (const c of list) {
      variants[c.name] = () => {
        const start = performance.now();
        const total = countAll(c, chunks);
        const seconds = (performance.now() - start) / 1000;
        if (round === 0) totals.set(c.name, total);
        // Move to the next round's strings once every contender has counted these.
        if (++done % list.length === 0) {
          round++;
          chunks = fresh();
        }
        return seconds;
      };
    }
    // The warm-up round counts round-0 strings too; identical counts are checked on those.
    const seconds = await interleave(variants, rounds, 1);
    const base = seconds['js-tiktoken (direct)'];
    const tokens = totals.get('js-tiktoken (direct)') ?? 0;
    const mb = corpus.bytes / 1e6;
    for (const c of list) {
      const s = seconds[c.name];
      const mbps = s.map((x) => mb / x);
      const ratio = s.map((x, i) => base[i] / x);
      rows.push({
        case: `${corpus.name}: ${c.name}`,
        metric: 'MB/s; tokens/s; speed vs js-tiktoken',
        result: `${median(mbps).toFixed(2)} MB/s (p10–p90 ${quantile(mbps, 0.1).toFixed(2)} … ${quantile(mbps, 0.9).toFixed(2)}); ${fmtCount(tokens / median(s))} tok/s; ${fmtRatio(median(ratio))}`,
      });
    }
    const distinct = new Set(totals.values());
    rows.push({
      case: `${corpus.name}: counts identical`,
      metric: `${corpus.chunks.length} chunks, ${(corpus.bytes / 1024).toFixed(0)} KiB`,
      result:
        distinct.size === 1
          ? `yes, ${tokens} tokens each`
          : [...totals].map(([name, n]) => `${name} ${n}`).join('; '),
      target: 'identical',
      met: distinct.size === 1,
    });
  }
  free();
  notes.push(
    `Counting: o200k_base (${MODEL}); each corpus ≈ ${(corpora[0].bytes / 1024).toFixed(0)} KiB in ≈ 4 KB chunks (prose: package READMEs, code: typescript.js, JSON: package.json manifests, all from node_modules), ${rounds} interleaved rounds, fresh strings every round so Tokencap's count cache never answers.`,
  );
  return { rows, notes };
}

/** Wall time of one `node -e <script>` in ms. */
function nodeRun(script: string): number {
  const start = performance.now();
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = performance.now() - start;
  if (r.status !== 0)
    throw new Error(`node -e ${JSON.stringify(script)} failed: ${r.stderr.toString()}`);
  return ms;
}

async function coldStartRows(runs: number): Promise<{ rows: Row[]; notes: string[] }> {
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    return {
      rows: [],
      notes: ['Cold import: dist/index.js is missing (run `npm run build`); skipped.'],
    };
  }
  const scripts = {
    bare: '',
    nest: "Promise.all([import('@nestjs/common'), import('@nestjs/core'), import('rxjs')])",
    tokencap: "import('./dist/index.js')",
    firstCount:
      "import('./dist/counting/index.js').then((m) => m.countTokens('hello world', 'gpt-4o'))",
  };
  const times = await interleave(
    {
      bare: () => nodeRun(scripts.bare),
      nest: () => nodeRun(scripts.nest),
      tokencap: () => nodeRun(scripts.tokencap),
      firstCount: () => nodeRun(scripts.firstCount),
    },
    runs,
  );
  const added = (name: keyof typeof times, base: keyof typeof times) =>
    times[name].map((t, i) => (t - times[base][i]) * 1000);
  const show = (us: number[]) =>
    `+${fmtUs(median(us))} (p10–p90 ${fmtUs(quantile(us, 0.1))} … ${fmtUs(quantile(us, 0.9))})`;
  return {
    rows: [
      {
        case: 'cold `import(\'tokencap\')` vs `node -e ""`',
        metric: 'added process wall time',
        result: show(added('tokencap', 'bare')),
      },
      {
        case: "cold `import('tokencap')` vs importing @nestjs/common, @nestjs/core, rxjs",
        metric: 'added process wall time',
        result: show(added('tokencap', 'nest')),
      },
      {
        case: "cold import of tokencap's counting + first countTokens (loads o200k)",
        metric: 'added process wall time vs `node -e ""`',
        result: show(added('firstCount', 'bare')),
      },
    ],
    notes: [
      `Cold import: ${runs} interleaved spawns of each \`node -e\` script (dist/ as published); the tokenizer tables load on the first count, not on import.`,
    ],
  };
}

export async function run(): Promise<SectionResult> {
  const corpora = loadCorpora(root, size(512 * 1024, 128 * 1024), 4096);
  const throughput = await throughputRows(corpora, size(7, 3));
  const cold = await coldStartRows(size(8, 3));
  return {
    title: '3. Token counting',
    rows: [...throughput.rows, ...cold.rows],
    notes: [...throughput.notes, ...cold.notes],
  };
}
