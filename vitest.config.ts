import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Builds dist/ when it is older than the sources: the CLI tests run the built command.
    globalSetup: ['test/cli/global-setup.ts'],
  },
});
