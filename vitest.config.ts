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
    // Tests neither read nor write the user's tuning cache, and measure nothing in the background
    // (the tests of those features turn them on explicitly).
    env: { WEBGPU_VAE_TUNING_CACHE: '0', WEBGPU_VAE_TUNING_BACKGROUND: '0' },
    hookTimeout: 120_000,
  },
});
