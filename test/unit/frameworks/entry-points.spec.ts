import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runtimeImports } from '../../support/runtime-imports.js';

const FRAMEWORK_PACKAGES = /^(langchain|@langchain\/.*|llamaindex|@llamaindex\/.*)$/;

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

describe('framework entry points and their optional peers', () => {
  it('importing `tokencap` (and `tokencap/testing`) loads no agent framework and no framework adapter', () => {
    for (const entry of ['lib/index.ts', 'lib/testing/index.ts']) {
      const { files, packages } = runtimeImports(entry);
      expect([...packages].filter((p) => FRAMEWORK_PACKAGES.test(p))).toEqual([]);
      expect([...files].filter((f) => f.includes('/frameworks/'))).toEqual([]);
    }
  });

  it('`tokencap/langchain` loads @langchain/core and langchain, nothing of Nest or of a provider SDK', () => {
    const { packages } = runtimeImports('lib/frameworks/langchain/index.ts');
    expect([...packages].filter((p) => FRAMEWORK_PACKAGES.test(p)).sort()).toEqual([
      '@langchain/core',
      'langchain',
    ]);
    for (const other of ['@nestjs/common', '@nestjs/core', 'openai', '@anthropic-ai/sdk']) {
      expect(packages.has(other)).toBe(false);
    }
  });

  it('package.json exports `tokencap/langchain` with its packages as optional peers', () => {
    expect(pkg.exports['./langchain']).toEqual({
      types: './dist/frameworks/langchain/index.d.ts',
      default: './dist/frameworks/langchain/index.js',
    });
    for (const peer of ['@langchain/core', 'langchain']) {
      expect(pkg.peerDependencies[peer]).toBeDefined();
      expect(pkg.peerDependenciesMeta[peer]).toEqual({ optional: true });
    }
  });

  it('`tokencap/llamaindex` loads no LlamaIndex package at run time (it only types the LLM it is given)', () => {
    const { packages } = runtimeImports('lib/frameworks/llamaindex/index.ts');
    expect([...packages].filter((p) => FRAMEWORK_PACKAGES.test(p))).toEqual([]);
    expect(packages.has('@nestjs/common')).toBe(false);
    expect(pkg.exports['./llamaindex']).toEqual({
      types: './dist/frameworks/llamaindex/index.d.ts',
      default: './dist/frameworks/llamaindex/index.js',
    });
    expect(pkg.peerDependenciesMeta['@llamaindex/core']).toEqual({ optional: true });
  });
});
