// vitest globalSetup: one throwaway PostgreSQL server for the whole run (test/helpers/postgres.ts).
// Test files get its URL with `inject('postgresUrl')` and make their own database in it.
// Binaries missing (`npm test` installs them first through scripts/setup.mjs when it can): the
// PostgreSQL tests are skipped with the reason printed, except in CI, where that is a failure.
import type { TestProject } from 'vitest/node';
import { findPostgresBin, POSTGRES_MISSING, startPostgres } from '../helpers/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the run's PostgreSQL server; null when it could not be started (never in CI). */
    postgresUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const bin = findPostgresBin();
  if (!bin) {
    if (process.env['CI']) throw new Error(`${POSTGRES_MISSING}\n(CI never skips the PostgreSQL tests.)`);
    console.warn(`\n${POSTGRES_MISSING}\nThe PostgreSQL tests are skipped in this run.\n`);
    project.provide('postgresUrl', null);
    return undefined;
  }
  const server = await startPostgres({ bin });
  project.provide('postgresUrl', server.url);
  return () => server.destroy();
}
