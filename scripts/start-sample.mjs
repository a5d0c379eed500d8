// `npm start`: transpiles lib/ and sample/ with SWC into dist-sample/ (only files changed since the
// last run), then starts the sample. `nest start` type-checks and recompiles everything with tsc on
// every start (about 30 s); type checking belongs to `npm run typecheck`, so start only transpiles.
import { cpSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformFile } from '@swc/core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// SAMPLE_OUT_DIR lets the tests build into their own folder.
const out = process.env.SAMPLE_OUT_DIR ?? join(root, 'dist-sample');

const swcOptions = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

const pending = [];
for (const dir of ['lib', 'sample']) {
  for (const source of sources(join(root, dir))) {
    const target = join(out, relative(root, source)).replace(/\.ts$/, '.js');
    if (mtime(target) >= mtime(source)) continue;
    pending.push(
      transformFile(source, { ...swcOptions, filename: source }).then(({ code }) => {
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, code);
      }),
    );
  }
}
await Promise.all(pending);
cpSync(join(root, 'sample/public'), join(out, 'sample/public'), { recursive: true });
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');

await import(pathToFileURL(join(out, 'sample/main.js')).href);
