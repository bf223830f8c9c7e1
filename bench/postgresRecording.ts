// `npm run bench:postgres`: what recording into PostgreSQL costs, beside SQLite, on a throwaway
// PostgreSQL server started from the machine's binaries (test/helpers/postgres.ts; no fsync).
//
// 1. CPU per exchange in the proxy's process, without sockets: the SessionTracker feeding the real
//    recorder and store (SQLite, PostgreSQL), against the same tracker discarding its observations.
//    PostgreSQL's own CPU is in its server processes, reported apart.
// 2. The whole proxy (serve's stack in this process, its store in a store process as under
//    `serve`, recording on) at full throughput against the raw upstream, once per store: requests
//    per second, and whether the recorder kept up (nothing dropped, every exchange in the database
//    once, the queue empty soon after the load stops).
//
// The machine is shared: numbers move by 10-30% from run to run. Writes bench/postgres-results.json
// (not with --print-only, which `npm run bench` uses: its own results files hold the numbers).
// `npm run bench` runs this too when PostgreSQL's binaries are installed (bench/postgresSection.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { readRequestEnvelope, readResponseEnvelope } from '../src/sessions/jsonrpc.js';
import { SessionTracker } from '../src/sessions/tracker.js';
import type { Observation } from '../src/sessions/types.js';
import { openStore } from '../src/store/index.js';
import { createRecorder } from '../src/store/recorder.js';
import type { ObservationStore } from '../src/store/types.js';
import { type PostgresServer, startPostgres } from '../test/helpers/postgres.js';
import { McpLoadClient } from './load.js';
import { startChild, useCompiledChildren } from './processes.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    exchanges: { type: 'string' },
    seconds: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    'print-only': { type: 'boolean', default: false },
  },
});
// Started compiled by `npm run bench` (.bench-build/bench/postgresRecording.js): its children too.
if (import.meta.url.endsWith('.js')) useCompiledChildren(fileURLToPath(new URL('..', import.meta.url)));

const N = Number(flags.exchanges ?? (flags.quick ? 20_000 : 50_000));
const LOAD_SECONDS = Number(flags.seconds ?? (flags.quick ? 3 : 8));
const CONCURRENCY = Number(flags.concurrency);
const SESSIONS = 8;

const init = readRequestEnvelope('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}');
const initAnswer = readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}');
const pingAnswer = readResponseEnvelope('{"jsonrpc":"2.0","id":7,"result":{}}');

/** `N` ping exchanges over 8 sessions, yielding like a server; CPU µs per exchange and wall ms to flushed. */
async function drive(
  onObservation: (o: Observation) => void,
  flush: () => Promise<void>,
): Promise<{ cpuMicros: number; wallMs: number }> {
  const tracker = new SessionTracker({ onObservation });
  for (let s = 0; s < SESSIONS; s++) {
    const h = tracker.begin({
      upstream: 'raw',
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: null,
      request: init,
    });
    h.headers(200, `3f1c2a9e-8b7d-4e6f-a5c4-00000000000${s}`);
    h.message(initAnswer);
    h.finish();
  }
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < N; i++) {
    const request = readRequestEnvelope(`{"jsonrpc":"2.0","id":${i},"method":"ping"}`);
    const h = tracker.begin({
      upstream: 'raw',
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: `3f1c2a9e-8b7d-4e6f-a5c4-00000000000${i % SESSIONS}`,
      request,
    });
    h.headers(200, null);
    h.message(pingAnswer);
    h.finish();
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await flush();
  const c = process.cpuUsage(t0);
  return { cpuMicros: (c.user + c.system) / N, wallMs: performance.now() - w0 };
}

/** CPU seconds used so far by the PostgreSQL server: the postmaster and its live children (backends). */
function postgresCpuSeconds(pg: PostgresServer): number {
  const ticks = 100; // USER_HZ on Linux
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      if (pid === pg.pid || ppid === pg.pid) total += (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

async function loopCost(
  storeUrl: string,
  serverCpu: () => number = () => 0,
): Promise<{ cpuMicros: number; wallMs: number; serverCpuMicros: number }> {
  const store = await openStore(storeUrl);
  const recorder = createRecorder({ store });
  const runs: Array<{ cpuMicros: number; wallMs: number }> = [];
  // Sampled while the connections are open: a backend's CPU leaves with it.
  const server0 = serverCpu();
  for (let round = 0; round < 3; round++) runs.push(await drive(recorder.record, () => recorder.flush()));
  const serverCpuMicros = ((serverCpu() - server0) * 1e6) / (3 * N);
  await recorder.close();
  await store.close();
  return {
    cpuMicros: med(runs.map((r) => r.cpuMicros)),
    wallMs: med(runs.map((r) => r.wallMs)),
    serverCpuMicros,
  };
}

interface ThroughputResult {
  store: string;
  requestsPerSecond: number;
  requests: number;
  errors: number;
  rowsWritten: number;
  dropped: number;
  msToEmptyQueueAfterLoad: number;
  /** CPU of the store process (where the writes run under `serve`) per exchange written. */
  storeProcessCpuMicros: number;
  /** CPU of the PostgreSQL server's processes per exchange written (0 for SQLite). */
  serverCpuMicros: number;
}

/** CPU seconds used so far by one process, from /proc (0 once it is gone). */
function processCpuSeconds(pid: number | null): number {
  if (pid === null) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function throughput(
  kind: string,
  storeUrl: string,
  upstreamPort: number,
  serverCpu: () => number = () => 0,
): Promise<ThroughputResult> {
  const base = defaultConfig();
  const running = await startServer({
    config: {
      ...base,
      upstreams: [
        {
          id: 'raw',
          name: 'raw',
          url: `http://127.0.0.1:${upstreamPort}/mcp`,
          transport: 'streamable-http',
          headers: {},
          timeoutSeconds: 30,
        },
      ],
      server: { ...base.server, host: '127.0.0.1', port: 0 },
      storage: { url: storeUrl },
    },
    logger: silentLogger,
    storeProcess: true,
  });
  const client = new McpLoadClient(running.url, '/mcp/raw', CONCURRENCY);
  client.sessions = await client.openSessions(SESSIONS);
  await client.run('ping', CONCURRENCY, 1000); // warm-up
  await running.recorder.flush();
  // Counted on a connection of its own: the proxy's store is in its store process.
  const counter = await openStore(storeUrl);
  const before = await countRows(counter);
  const storePid = (running.store as { pid?: number | null }).pid ?? null;
  const store0 = processCpuSeconds(storePid);
  const server0 = serverCpu();
  const cell = await client.run('ping', CONCURRENCY, LOAD_SECONDS * 1000);
  const t0 = performance.now();
  while (running.recorder.stats().queued > 0) await new Promise((r) => setTimeout(r, 5));
  const drained = performance.now() - t0;
  await running.recorder.flush();
  const storeCpu = processCpuSeconds(storePid) - store0;
  const serverCpuUsed = serverCpu() - server0;
  const rows = (await countRows(counter)) - before;
  await counter.close();
  const stats = running.recorder.stats();
  await client.close();
  await running.close();
  return {
    store: kind,
    requestsPerSecond: Math.round(cell.requests / cell.seconds),
    requests: cell.requests,
    errors: cell.errors,
    rowsWritten: rows,
    dropped: stats.dropped,
    msToEmptyQueueAfterLoad: Math.round(drained),
    storeProcessCpuMicros: round((storeCpu * 1e6) / Math.max(1, rows)),
    serverCpuMicros: round((serverCpuUsed * 1e6) / Math.max(1, rows)),
  };
}

async function countRows(store: ObservationStore): Promise<number> {
  // The contract's reads are bounded; count what the store holds for the bench's upstream directly.
  const rows = await store.listExchanges({ upstream: 'raw', limit: 10_000, since: 0 });
  if (rows.length < 10_000) return rows.length;
  if (store.kind === 'postgres') {
    const { pool } = store as unknown as {
      pool: { query(q: string): Promise<{ rows: Array<{ n: number }> }> };
    };
    return (await pool.query('SELECT count(*)::int AS n FROM exchanges')).rows[0]!.n;
  }
  const { sqlite } = store as unknown as { sqlite: { prepare(q: string): { get(): { n: number } } } };
  return sqlite.prepare('SELECT count(*) AS n FROM exchanges').get().n;
}

const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-pgbench-'));
const pg = await startPostgres();
const raw = await startChild('raw upstream', './rawUpstream.ts');
try {
  const discardRuns: number[] = [];
  for (let round = 0; round < 3; round++)
    discardRuns.push(
      (
        await drive(
          () => {},
          async () => {},
        )
      ).cpuMicros,
    );
  const discard = med(discardRuns);
  const sqlite = await loopCost(`sqlite:${join(dir, 'loop.db')}`);
  const postgres = await loopCost(await pg.createDatabase('loop'), () => postgresCpuSeconds(pg));
  const sqliteRun = await throughput('sqlite', `sqlite:${join(dir, 'load.db')}`, raw.ready.port);
  const pgRun = await throughput('postgres', await pg.createDatabase('load'), raw.ready.port, () =>
    postgresCpuSeconds(pg),
  );
  const results = {
    date: new Date().toISOString(),
    command: `npm run bench:postgres${flags.quick ? ' -- --quick' : ''}`,
    exchanges: N,
    perExchange: {
      trackerOnlyCpuMicros: round(discard),
      sqlite: { cpuMicros: round(sqlite.cpuMicros), recordingCpuMicros: round(sqlite.cpuMicros - discard) },
      postgres: {
        cpuMicros: round(postgres.cpuMicros),
        recordingCpuMicros: round(postgres.cpuMicros - discard),
        serverCpuMicros: round(postgres.serverCpuMicros),
      },
    },
    throughput: [sqliteRun, pgRun],
    note: 'shared 2-core machine: expect 10-30% noise between runs; PostgreSQL runs without fsync',
  };
  if (!flags['print-only'])
    writeFileSync(
      new URL('./postgres-results.json', import.meta.url),
      `${JSON.stringify(results, null, 2)}\n`,
    );
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} finally {
  await raw.close();
  await pg.destroy();
  rmSync(dir, { recursive: true, force: true });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
