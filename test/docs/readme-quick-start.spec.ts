import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, typeErrors } from '../support/type-check.js';

/** README.md's quick start: each `ts` block whose first line is `// <file>.ts`. */
function quickStartFiles(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const files = new Map<string, string>();
  for (const [, code] of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
    const name = /^\/\/ ([\w.-]+\.ts)\n/.exec(code!)?.[1];
    if (name) files.set(name, code!);
  }
  return files;
}

describe("README.md's quick start", () => {
  const dir = join(ROOT, '.tmp', `readme-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is a complete app that compiles as written, with `tokencap` as the package resolves it', () => {
    const files = quickStartFiles();
    expect([...files.keys()].sort()).toEqual([
      'app.module.ts',
      'budget-alerts.service.ts',
      'chat.controller.ts',
      'main.ts',
      'openai.provider.ts',
    ]);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    // What `npm install tokencap` resolves, compiled from source here.
    const diagnostics = typeErrors(dir, files, { tokencap: [join(ROOT, 'lib/index.ts')] });
    expect(diagnostics).toEqual([]);
  }, 60_000);
});
