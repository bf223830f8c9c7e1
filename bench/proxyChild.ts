// The proxy under test in its own process: the real serve stack (startServer) with a
// temp SQLite store in its store process, recording and telemetry on. argv: id=url pairs. Answers `settle` (after
// every slice), `mem` (after a full GC; start with --expose-gc) and `flush` over IPC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { setupTelemetry } from '../src/telemetry/index.js';
import {
  breakdown,
  instrumentExporter,
  instrumentServer,
  instrumentTelemetry,
  resetBreakdown,
} from './breakdown.js';
import { droppingExporter } from './droppingExporter.js';
import { answerParent } from './processes.js';

const pairs = process.argv.slice(2);
const base = defaultConfig();
const upstreams = pairs.map((pair) => {
  const eq = pair.indexOf('=');
  return {
    id: pair.slice(0, eq),
    name: pair.slice(0, eq),
    url: pair.slice(eq + 1),
    transport: 'streamable-http' as const,
    headers: {},
    timeoutSeconds: 60,
  };
});
// `--breakdown` (bench/breakdown.ts): every per-request hook timed inside this process.
const timedHooks = process.env['BENCH_BREAKDOWN'] === '1';
// Telemetry fully on (spans built, batched and "exported"; metrics recorded) with an exporter
// that drops everything after reading it: what tracing costs the proxy, without a collector.
const spanProcessor =
  process.env['BENCH_SPANS'] === 'off'
    ? null
    : new BatchSpanProcessor(timedHooks ? instrumentExporter(droppingExporter()) : droppingExporter());
const telemetry = spanProcessor
  ? setupTelemetry({ spanProcessors: [spanProcessor], upstreams })
  : setupTelemetry({ env: {}, upstreams });
if (timedHooks) instrumentTelemetry(telemetry);
// Garbage collection time since the last `settle`, by kind, so that a run can show where the
// collections fell.
const gcMs = { minor: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMs.major += e.duration;
    else gcMs.minor += e.duration;
  }
}).observe({ entryTypes: ['gc'] });
const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-bench-'));
const running = await startServer({
  config: {
    ...base,
    upstreams,
    server: { ...base.server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
    storage: { url: `sqlite:${join(dir, 'bench.db')}` },
  },
  logger: silentLogger,
  telemetry,
  // As `serve` runs it: the store in its own process (its CPU counts: the bench reads children too).
  storeProcess: process.env['BENCH_STORE_PROCESS'] !== 'off',
});

if (timedHooks) instrumentServer(running);

answerParent({
  breakdown: () => breakdown(),
  'breakdown-reset': () => {
    resetBreakdown();
    return {};
  },
  mem: () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, trackedSessions: running.tracker.size };
  },
  // After every slice (bench/run.ts): what the slice left queued is written and exported now.
  settle: async () => {
    await running.recorder.flush();
    await spanProcessor?.forceFlush();
    const gc = { ...gcMs };
    gcMs.minor = 0;
    gcMs.major = 0;
    const young = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    return { gcMs: gc, youngBytes: young?.space_size ?? null };
  },
  flush: async () => {
    await running.recorder.flush();
    return running.recorder.stats();
  },
});
process.send?.({ type: 'ready', port: running.port });
process.on('SIGTERM', () => {
  // Its temporary database goes with it (they had piled up in /tmp, one per proxy per run).
  void running
    .close()
    .finally(() => rmSync(dir, { recursive: true, force: true }))
    .finally(() => process.exit(0));
});
