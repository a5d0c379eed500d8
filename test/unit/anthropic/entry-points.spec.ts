import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runtimeImports } from '../../support/runtime-imports.js';

describe('entry points and optional peers', () => {
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
