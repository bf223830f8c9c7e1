import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // One throwaway PostgreSQL server for the run (the PostgreSQL store and replica tests).
    globalSetup: ['test/setup/postgres.ts'],
    reporters: ['default'],
  },
});
