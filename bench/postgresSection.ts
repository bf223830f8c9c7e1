// `npm run bench`'s PostgreSQL part: bench/postgresRecording.ts in a process of its own (it starts a
// throwaway PostgreSQL server from the machine's binaries and the whole proxy twice), its numbers
// printed beside SQLite's under the main table. Skipped, with the reason, when the binaries are
// not installed; `npm run bench:postgres` runs it alone.
import { findPostgresBin } from '../test/helpers/postgres.js';

/** What bench/postgresRecording.ts prints (and writes to bench/postgres-results.json). */
export interface PostgresRecordingResults {
  date: string;
  command: string;
  exchanges: number;
  perExchange: {
    trackerOnlyCpuMicros: number;
    sqlite: { cpuMicros: number; recordingCpuMicros: number };
    postgres: { cpuMicros: number; recordingCpuMicros: number; serverCpuMicros: number };
  };
  throughput: Array<{
    store: string;
    requestsPerSecond: number;
    requests: number;
    errors: number;
    rowsWritten: number;
    dropped: number;
    msToEmptyQueueAfterLoad: number;
    storeProcessCpuMicros?: number;
    serverCpuMicros?: number;
  }>;
  note: string;
}

export type PostgresSection = { results: PostgresRecordingResults } | { skipped: string };

/**
 * Runs bench/postgresRecording.ts through `runScript` (the bench's way of starting a measurement
 * script in a fresh node process); `quick` as the bench's own --quick.
 */
export function measurePostgresRecording(
  runScript: (file: string, args: string[]) => string,
  quick: boolean,
  log: (msg: string) => void,
): PostgresSection {
  if (findPostgresBin() === null) {
    const skipped =
      'PostgreSQL binaries (initdb, postgres) not found: install postgresql or set MCP_PROBE_PG_BIN';
    log(`postgres: skipped (${skipped})`);
    return { skipped };
  }
  log('postgres: recording into PostgreSQL beside SQLite (bench/postgresRecording.ts)');
  const out = runScript('./postgresRecording.ts', ['--print-only', ...(quick ? ['--quick'] : [])]);
  return { results: JSON.parse(out) as PostgresRecordingResults };
}

const f = (n: number | undefined, digits = 1) => (n === undefined ? 'n/a' : n.toFixed(digits));

/** The section under the bench's table: per exchange and at full throughput, SQLite beside PostgreSQL. */
export function renderPostgresSection(section: PostgresSection): string {
  if ('skipped' in section) return `\nPostgreSQL as the store: not measured (${section.skipped}).\n`;
  const r = section.results;
  const load = (store: string) => r.throughput.find((t) => t.store === store);
  const rows = [
    ['SQLite', r.perExchange.sqlite.recordingCpuMicros, undefined, load('sqlite')],
    [
      'PostgreSQL',
      r.perExchange.postgres.recordingCpuMicros,
      r.perExchange.postgres.serverCpuMicros,
      load('postgres'),
    ],
  ] as const;
  const lines = [
    '',
    `PostgreSQL as the store (bench/postgresRecording.ts on a throwaway server; ${r.note}).`,
    `Recording CPU per exchange: ${r.exchanges} exchanges through the tracker, recorder and store in one process (the tracker alone ${f(r.perExchange.trackerOnlyCpuMicros, 2)} µs, subtracted).`,
    'Full throughput: the whole proxy with its store in a store process (as `serve` runs), ping from 16 closed-loop clients against the raw upstream; rows written should equal requests (nothing dropped, nothing written twice).',
    '',
    '| store | recording CPU µs/exchange | database server CPU µs/exchange | req/s | requests | rows written | dropped | store process CPU µs/exchange | server CPU µs/exchange under load | queue empty after load |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows.map(
      ([name, recording, server, t]) =>
        `| ${name} | ${f(recording, 2)} | ${server === undefined ? '(in process)' : f(server, 2)} | ${t?.requestsPerSecond ?? 'n/a'} | ${t?.requests ?? 'n/a'} | ${t?.rowsWritten ?? 'n/a'} | ${t?.dropped ?? 'n/a'} | ${f(t?.storeProcessCpuMicros, 2)} | ${name === 'SQLite' ? '(in the store process)' : f(t?.serverCpuMicros, 2)} | ${t ? `${t.msToEmptyQueueAfterLoad} ms` : 'n/a'} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
