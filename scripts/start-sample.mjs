// `npm start`: transpiles lib/ and sample/ with SWC into dist-sample/ (only files changed since the
// last run), then starts the sample. `nest start` type-checks and recompiles everything with tsc on
// every start (about 30 s); type checking belongs to `npm run typecheck`, so start only transpiles.
import { cpSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transpile } from './transpile.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// SAMPLE_OUT_DIR lets the tests build into their own folder.
const out = process.env.SAMPLE_OUT_DIR ?? join(root, 'dist-sample');

await transpile({ base: root, dirs: ['lib', 'sample'], outDir: out, onlyChanged: true });
cpSync(join(root, 'sample/public'), join(out, 'sample/public'), { recursive: true });
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');

await import(pathToFileURL(join(out, 'sample/main.js')).href);
