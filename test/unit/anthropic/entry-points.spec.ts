import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Every module specifier `entry` loads at run time, following relative imports through lib/: type-only
 * imports and exports (which the build erases) are left out, value imports, re-exports and dynamic
 * imports are followed.
 */
function runtimeImports(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(
      file,
      readFileSync(file, 'utf8'),
      ts.ScriptTarget.ES2022,
      true,
    );
    const follow = (specifier: string) => {
      if (specifier.startsWith('.'))
        visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else
        packages.add(
          specifier
            .split('/')
            .slice(0, specifier.startsWith('@') ? 2 : 1)
            .join('/'),
        );
    };
    const walk = (node: ts.Node) => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const clause = node.importClause;
        const typeOnly =
          clause?.isTypeOnly ||
          (clause !== undefined &&
            clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly));
        if (!typeOnly) follow(node.moduleSpecifier.text);
      } else if (
        ts.isExportDeclaration(node) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        const typeOnly =
          node.isTypeOnly ||
          (node.exportClause !== undefined &&
            ts.isNamedExports(node.exportClause) &&
            node.exportClause.elements.every((e) => e.isTypeOnly));
        if (!typeOnly) follow(node.moduleSpecifier.text);
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        follow(node.arguments[0].text);
      }
      ts.forEachChild(node, walk);
    };
    walk(source);
  };
  visit(resolve(entry));
  return { files, packages };
}

describe('entry points and optional peers', () => {
  it('importing `tokencap` loads neither @nestjs/swagger nor @nestjs/terminus; their subpaths do', () => {
    const root = runtimeImports('lib/index.ts');
    expect(root.packages.has('@nestjs/swagger')).toBe(false);
    expect(root.packages.has('@nestjs/terminus')).toBe(false);
    expect(runtimeImports('lib/swagger/index.ts').packages.has('@nestjs/swagger')).toBe(true);
    expect(runtimeImports('lib/terminus/index.ts').packages.has('@nestjs/terminus')).toBe(true);
  });

  it('importing `tokencap` loads neither @anthropic-ai/sdk nor the Anthropic adapter', () => {
    const { files, packages } = runtimeImports('lib/index.ts');
    expect(packages.has('@anthropic-ai/sdk')).toBe(false);
    expect([...files].filter((f) => f.includes('/providers/anthropic/'))).toEqual([]);
    // The check sees real imports: the root does load its own dependencies.
    expect(packages.has('@nestjs/common')).toBe(true);
  });

  it('`tokencap/anthropic` loads the adapter but never the SDK itself (it meters the client it is given)', () => {
    const { files, packages } = runtimeImports('lib/providers/anthropic/index.ts');
    expect([...files].some((f) => f.endsWith('wrap-anthropic.ts'))).toBe(true);
    expect(packages.has('@anthropic-ai/sdk')).toBe(false);
    expect(packages.has('@nestjs/common')).toBe(false);
  });

  it('package.json exports `tokencap/anthropic` and declares the SDK an optional peer', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      exports: Record<string, unknown>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(pkg.exports['./anthropic']).toEqual({
      types: './dist/providers/anthropic/index.d.ts',
      default: './dist/providers/anthropic/index.js',
    });
    expect(pkg.peerDependencies['@anthropic-ai/sdk']).toBeDefined();
    expect(pkg.peerDependenciesMeta['@anthropic-ai/sdk']).toEqual({ optional: true });
  });
});
