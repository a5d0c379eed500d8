// Transpiles TypeScript folders with SWC (types stripped, decorator metadata kept), one output file
// per source. Used by `npm start` and by tests that need the library as JavaScript in seconds
// rather than tsc's half minute; type checking is `npm run typecheck`'s job.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { transformFile } from '@swc/core';

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

/**
 * Writes `<outDir>/<path relative to base>.js` for every `.ts` file under `dirs`.
 * @returns how many files were written (with `onlyChanged`, those newer than their output).
 */
export async function transpile({ base, dirs, outDir, onlyChanged = false }) {
  const pending = [];
  for (const dir of dirs) {
    for (const source of sources(join(base, dir))) {
      const target = join(outDir, relative(base, source)).replace(/\.ts$/, '.js');
      if (onlyChanged && mtime(target) >= mtime(source)) continue;
      pending.push(
        transformFile(source, { ...swcOptions, filename: source }).then(({ code }) => {
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, code);
        }),
      );
    }
  }
  await Promise.all(pending);
  return pending.length;
}
