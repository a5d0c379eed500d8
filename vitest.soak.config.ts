import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// `npm run soak`: the long-running reliability runs in test/soak, kept out of `npm test`.
export default defineConfig({
  // Nest resolves constructor parameters from `design:paramtypes`; vitest's default
  // transformer does not emit decorator metadata, so SWC compiles the TypeScript.
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['test/soak/**/*.soak.ts'],
    testTimeout: 3 * 60 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
