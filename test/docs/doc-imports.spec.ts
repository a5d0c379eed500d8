import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, typeErrors } from '../support/type-check.js';

// Every name a page imports from `tokencap` or one of its subpaths must be exported there: a sample
// importing `Ledger` from the root (it lives in `tokencap/engine`) fails for every reader who copies
// it, even where the rest of the sample is a fragment that cannot compile on its own.
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter(
  (f) => f.endsWith('.md'),
);
const IMPORT = /^import\s+(?:type\s+)?\{[^}]*\}\s+from\s+'(tokencap(?:\/[\w-]+)?)';/gm;

/** `paths` resolving each entry point of package.json's exports map to its source. */
function entryPoints(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { default?: string }>;
  };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.default;
    if (!file?.startsWith('./dist/') || !file.endsWith('.js')) continue;
    const source = file.replace('./dist/', 'lib/').replace(/\.js$/, '.ts');
    paths[subpath === '.' ? 'tokencap' : `tokencap/${subpath.slice(2)}`] = [join(ROOT, source)];
  }
  return paths;
}

describe('the imports of the docs’ code samples', () => {
  const dir = join(ROOT, '.tmp', `doc-imports-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('name only what the entry point they import from exports', () => {
    mkdirSync(dir, { recursive: true });
    const files: [string, string][] = [];
    for (const page of PAGES) {
      const text = readFileSync(join(ROOT, page), 'utf8');
      const blocks = [...text.matchAll(/```(?:ts|typescript)\n([\s\S]*?)```/g)];
      blocks.forEach(([, code], i) => {
        const imports = [...code!.matchAll(IMPORT)].map(([statement]) => statement);
        if (imports.length === 0) return;
        const name = `${page.replace(/[/.]/g, '_')}-${i + 1}.ts`;
        files.push([name, `${imports.join('\n')}\nexport {};\n`]);
      });
    }
    expect(files.length).toBeGreaterThan(20);
    // Unused imports are fine here; names missing from an entry point are TS2305/TS2724.
    const errors = typeErrors(dir, files, entryPoints()).filter((e) =>
      /has no exported member|Cannot find module 'tokencap/.test(e),
    );
    expect(errors).toEqual([]);
  }, 120_000);
});
