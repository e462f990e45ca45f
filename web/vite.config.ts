/**
 * Builds the web console into web/dist, served by `ferry serve` under /console/ (src/server/console.ts).
 * Run from the repository root as `vite build web` (npm run build:console): the root is this folder.
 * Preact needs no Vite plugin: esbuild compiles JSX with Preact's automatic runtime.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: {
    // The AWS SDK's packages map their Node runtime files to browser ones through the `browser` field.
    mainFields: ['browser', 'module', 'main'],
    conditions: ['browser', 'import', 'module', 'default'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 400,
  },
  logLevel: 'warn',
});
