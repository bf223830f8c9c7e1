// The benchmark's PostgreSQL section as printed under the main table (the measurement itself is
// bench/postgresRecording.ts, minutes of load: run by `npm run bench`, not by the tests).
import { describe, expect, it } from 'vitest';
import { type PostgresRecordingResults, renderPostgresSection } from '../bench/postgresSection.js';

const results: PostgresRecordingResults = {
  date: '2026-12-07T13:00:00.000Z',
  command: 'npm run bench:postgres',
  exchanges: 20_000,
  perExchange: {
    trackerOnlyCpuMicros: 3.4,
    sqlite: { cpuMicros: 5.7, recordingCpuMicros: 2.3 },
    postgres: { cpuMicros: 6.4, recordingCpuMicros: 3.0, serverCpuMicros: 10.8 },
  },
  throughput: [
    {
      store: 'sqlite',
      requestsPerSecond: 291,
      requests: 892,
      errors: 0,
      rowsWritten: 892,
      dropped: 0,
      msToEmptyQueueAfterLoad: 40,
      storeProcessCpuMicros: 25.5,
      serverCpuMicros: 0,
    },
    {
      store: 'postgres',
      requestsPerSecond: 503,
      requests: 1511,
      errors: 0,
      rowsWritten: 1511,
      dropped: 0,
      msToEmptyQueueAfterLoad: 36,
      storeProcessCpuMicros: 12.25,
      serverCpuMicros: 20.5,
    },
  ],
  note: 'shared 2-core machine',
};

describe('the bench PostgreSQL section', () => {
  it('puts PostgreSQL beside SQLite: recording cost, throughput, rows against requests, drops', () => {
    const md = renderPostgresSection({ results });
    expect(md).toContain(
      '| SQLite | 2.30 | (in process) | 291 | 892 | 892 | 0 | 25.50 | (in the store process) | 40 ms |',
    );
    expect(md).toContain('| PostgreSQL | 3.00 | 10.80 | 503 | 1511 | 1511 | 0 | 12.25 | 20.50 | 36 ms |');
  });

  it('says why when it was not measured', () => {
    expect(renderPostgresSection({ skipped: 'no binaries' })).toBe(
      '\nPostgreSQL as the store: not measured (no binaries).\n',
    );
  });
});
