import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Writes `files` (name → code) into `dir` and type-checks them as a user's project would: Node's
 * module resolution, strict, decorators on (Nest's), with `paths` mapping package names to sources.
 * Returns the diagnostics, each prefixed with its file's name within `dir`.
 */
export function typeErrors(
  dir: string,
  files: Iterable<readonly [string, string]>,
  paths?: Record<string, string[]>,
): string[] {
  const names: string[] = [];
  for (const [name, code] of files) {
    writeFileSync(join(dir, name), code);
    names.push(join(dir, name));
  }
  const program = ts.createProgram({
    rootNames: names,
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
      ...(paths && { paths }),
    },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.replace(dir, '')}: ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}
