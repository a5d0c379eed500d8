import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Everything exported is documented: each name exported by a package entry point must appear in
// README.md or a page of docs/, so an export added without docs fails here.
const ENTRY_POINTS = [
  'lib/index.ts',
  'lib/redis/index.ts',
  'lib/testing/index.ts',
  'lib/providers/anthropic/index.ts',
  'lib/frameworks/ai-sdk/index.ts',
];

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

describe('README.md and docs/', () => {
  const readme = readFileSync('README.md', 'utf8');
  const docs = [
    readme,
    ...readdirSync('docs')
      .filter((f) => f.endsWith('.md'))
      .map((f) => readFileSync(`docs/${f}`, 'utf8')),
  ].join('\n');

  it.each(ENTRY_POINTS)('documents every export of %s', (file) => {
    const names = exportedNames(file);
    expect(names.length).toBeGreaterThan(3);
    const undocumented = names.filter((name) => !new RegExp(`\\b${name}\\b`).test(docs));
    expect(undocumented).toEqual([]);
  });

  it('gives the two set-up commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
