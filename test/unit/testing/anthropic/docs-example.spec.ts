import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it, vi } from 'vitest';

// The example of docs/testing-kit.md's Anthropic section, run as written (only its import of
// 'tokencap/testing' points at the source), and each `console.log(...); // expected` checked.
const HEADING = '## A fake Anthropic Messages API';
const file = `.tmp/docs-anthropic-example-${process.pid}.ts`;

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(file, { force: true });
});

it('runs the example of the docs and prints what its comments say', async () => {
  const doc = readFileSync('docs/testing-kit.md', 'utf8');
  const section = doc.slice(doc.indexOf(HEADING));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toBeDefined();
  const expected = [...code!.matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(2);

  mkdirSync('.tmp', { recursive: true });
  writeFileSync(file, code!.replace(`'tokencap/testing'`, `'../lib/testing/index.js'`));
  const printed: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(' '));
  });
  await import(/* @vite-ignore */ `../../../../${file}`);
  expect(printed).toEqual(expected);
});
