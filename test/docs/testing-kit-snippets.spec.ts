import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, typeErrors } from '../support/type-check.js';

/** Every `ts` block of docs/testing-kit.md, each compiled as a module of its own. */
describe("docs/testing-kit.md's code samples", () => {
  const dir = join(ROOT, '.tmp', `testing-kit-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compile as written, with `tokencap` as the package resolves it', () => {
    const page = readFileSync(join(ROOT, 'docs/testing-kit.md'), 'utf8');
    const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, code]) => code!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    const diagnostics = typeErrors(
      dir,
      blocks.map((code, i) => [`sample-${i + 1}.ts`, code] as const),
      // What `npm install tokencap` resolves, compiled from source here.
      {
        tokencap: [join(ROOT, 'lib/index.ts')],
        'tokencap/testing': [join(ROOT, 'lib/testing/index.ts')],
      },
    );
    expect(diagnostics).toEqual([]);
  }, 60_000);
});
