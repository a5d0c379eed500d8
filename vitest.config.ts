import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Nest resolves constructor parameters from `design:paramtypes`; vitest's default
  // transformer does not emit decorator metadata, so SWC compiles the TypeScript.
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['test/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
    exclude: ['test/soak/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
