import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runtimeImports } from '../../support/runtime-imports.js';

const OPTIONAL = [
  'ai',
  '@ai-sdk/provider',
  '@ai-sdk/openai',
  '@ai-sdk/anthropic',
  '@openai/agents',
];

describe('tokencap/ai-sdk entry point and optional peers', () => {
  it('importing `tokencap` loads neither the AI SDK nor the Agents SDK nor the middleware', () => {
    const { files, packages } = runtimeImports('lib/index.ts');
    expect(OPTIONAL.filter((name) => packages.has(name))).toEqual([]);
    expect([...files].filter((f) => f.includes('/frameworks/'))).toEqual([]);
    // The check sees real imports: the root does load its own dependencies.
    expect(packages.has('@nestjs/common')).toBe(true);
  });

  it('tokencap/ai-sdk loads no AI SDK package at run time (its types only), nor Nest', () => {
    const { packages } = runtimeImports('lib/frameworks/ai-sdk/index.ts');
    expect(OPTIONAL.filter((name) => packages.has(name))).toEqual([]);
    expect(packages.has('@nestjs/common')).toBe(false);
  });

  it('package.json exports tokencap/ai-sdk and declares ai and @ai-sdk/provider as optional peers', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      exports: Record<string, unknown>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(pkg.exports['./ai-sdk']).toEqual({
      types: './dist/frameworks/ai-sdk/index.d.ts',
      default: './dist/frameworks/ai-sdk/index.js',
    });
    for (const peer of ['ai', '@ai-sdk/provider']) {
      expect(pkg.peerDependencies[peer]).toBeDefined();
      expect(pkg.peerDependenciesMeta[peer]).toEqual({ optional: true });
    }
  });
});
