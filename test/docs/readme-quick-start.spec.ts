import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

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
    for (const [name, code] of files) writeFileSync(join(dir, name), code);

    const program = ts.createProgram({
      rootNames: [...files.keys()].map((name) => join(dir, name)),
      options: {
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2023.d.ts'],
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        // What `npm install tokencap` resolves, compiled from source here.
        paths: { tokencap: [join(ROOT, 'lib/index.ts')] },
      },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(dir, '')}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
    expect(diagnostics).toEqual([]);
  }, 60_000);
});
