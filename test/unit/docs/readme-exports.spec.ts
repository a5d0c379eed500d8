import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// "Every export is documented" is checked on the code: `npm run docs:build` runs TypeDoc with
// `validation.notDocumented` over every entry point and fails on a warning. This suite keeps that
// check complete (every subpath of package.json is a TypeDoc entry point) and the root entry small.

function exportedNames(file: string): string[] {
  const source = readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '');
  const names = new Set<string>();
  for (const [, list] of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const item of list.split(',')) {
      const name = item
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (name) names.add(name);
    }
  }
  for (const [, name] of source.matchAll(
    /export\s+(?:declare\s+)?(?:const|function|class|interface|type|enum)\s+(\w+)/g,
  )) {
    names.add(name);
  }
  return [...names].sort();
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, string | { default: string }>;
};
const typedoc = JSON.parse(readFileSync('typedoc.json', 'utf8')) as { entryPoints: string[] };

describe('the public API and its documentation', () => {
  it('gives TypeDoc every entry point package.json exports, so each is validated as documented', () => {
    const entries = Object.values(manifest.exports)
      .filter((target) => typeof target === 'object')
      .map((target) => target.default.replace(/^\.\/dist\//, 'lib/').replace(/\.js$/, '.ts'));
    expect([...typedoc.entryPoints].sort()).toEqual(entries.sort());
  });

  it('keeps the root entry to what a Nest app uses: at most 45 names', () => {
    expect(exportedNames('lib/index.ts').length).toBeLessThanOrEqual(45);
  });

  it('gives the two set-up commands in README.md', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
