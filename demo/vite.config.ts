// The demo app: `npm run demo` (dev server) or `npm run demo:build` (static build in demo/dist).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 40_000,
  },
  // The engine runs in a module worker (demo/src/worker.ts), which loads the digits lazily.
  worker: { format: 'es' },
  server: { fs: { allow: ['..'] } },
});
