import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

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
    const files = blocks.map((code, i) => {
      const file = join(dir, `sample-${i + 1}.ts`);
      writeFileSync(file, code);
      return file;
    });
    const program = ts.createProgram({
      rootNames: files,
      options: {
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2023.d.ts'],
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        // Tokencap's own sources (resolved through `paths`) use Nest's decorators.
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        // What `npm install tokencap` resolves, compiled from source here.
        paths: {
          tokencap: [join(ROOT, 'lib/index.ts')],
          'tokencap/testing': [join(ROOT, 'lib/testing/index.ts')],
        },
      },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(dir, '')}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
    expect(diagnostics).toEqual([]);
  }, 60_000);
});
