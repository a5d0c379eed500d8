import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runtimeImports } from '../../support/runtime-imports.js';

describe('tokencap/otel and its optional peer', () => {
  it('importing `tokencap` loads neither @opentelemetry/api nor lib/otel', () => {
    const { files, packages } = runtimeImports('lib/index.ts');
    expect([...packages].filter((p) => p.startsWith('@opentelemetry/'))).toEqual([]);
    expect([...files].filter((f) => f.includes('/lib/otel/'))).toEqual([]);
  });

  it('`tokencap/otel` loads @opentelemetry/api and nothing of Nest', () => {
    const { packages } = runtimeImports('lib/otel/index.ts');
    expect(packages.has('@opentelemetry/api')).toBe(true);
    expect([...packages].filter((p) => p.startsWith('@opentelemetry/'))).toEqual([
      '@opentelemetry/api',
    ]);
    expect(packages.has('@nestjs/common')).toBe(false);
  });

  it('package.json exports `tokencap/otel` and declares @opentelemetry/api an optional peer', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      exports: Record<string, unknown>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(pkg.exports['./otel']).toEqual({
      types: './dist/otel/index.d.ts',
      default: './dist/otel/index.js',
    });
    expect(pkg.peerDependencies['@opentelemetry/api']).toBe('^1.9.0');
    expect(pkg.peerDependenciesMeta['@opentelemetry/api']).toEqual({ optional: true });
  });
});
