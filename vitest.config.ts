import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // Dawn needs the forks pool: in worker threads an in-process VK_ICD_FILENAMES does not reach
    // the Vulkan loader, so SwiftShader would not be found.
    pool: 'forks',
    // Two CPU cores; each adapter already uses both.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
