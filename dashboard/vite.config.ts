import { defineConfig } from 'vite';

/**
 * Two builds: production (`vite build`, into dist/, served by the hub) and the test build
 * (`vite build --mode test`, into dist-test/, served by test hubs via `dashboardDir`), which alone
 * carries the test hooks (src/test-hooks.ts).
 */
export default defineConfig(({ mode }) => ({
  root: new URL('.', import.meta.url).pathname,
  define: { __QLY_TEST_HOOKS__: JSON.stringify(mode === 'test') },
  build: {
    outDir: mode === 'test' ? 'dist-test' : 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
    minify: process.env.QLY_NO_MINIFY ? false : 'esbuild',
  },
  server: {
    proxy: {
      '/api': 'http://localhost:8080',
      '/socket.io': { target: 'http://localhost:8080', ws: true },
    },
  },
}));
