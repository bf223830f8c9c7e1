// `npm run bench [-- --quick] [-- --profile]`: direct vs a bare Node pass-through (node:http +
// undici) vs the proxy (recording and telemetry on) vs a generic Node reverse proxy
// (http-proxy-3) and nginx, against a raw JSON-RPC upstream, the SDK
// fixture upstream and server-everything. Rounds are interleaved and medians reported,
// because the machine is shared; every ratio compares numbers from the same run.
// Writes bench/results.json and bench/results.md. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findFreePort, startServerEverything } from '../test/fixtures/upstreams.js';
import type { BreakdownRow } from './breakdown.js';
import { McpLoadClient, median, type RpcMethod } from './load.js';
import { startNginx } from './nginx.js';
import { measurePostgresRecording, renderPostgresSection } from './postgresSection.js';
import {
  type BenchChild,
  childEntry,
  cpuSampleOf,
  rssBytesOf,
  startChild,
  useCompiledChildren,
} from './processes.js';
import {
  balancedOrder,
  type CellSummary,
  evaluateTargets,
  GENERIC_PROXY,
  type IdleCost,
  type IdleStep,
  iqrText,
  joinSlices,
  PASS_THROUGH_CONTROL,
  pairedRatios,
  renderMarkdown,
  type Slice,
  type Summary,
  THROUGHPUT_SCENARIOS,
} from './report.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    /** Time every per-request hook inside the proxies (bench/breakdown.ts) under raw ping c16 or --only. */
    breakdown: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'duration-ms': { type: 'string' },
    /** Rounds of the scenarios the throughput target judges, run in each round (default 3; --quick 1). */
    'throughput-repeats': { type: 'string' },
    /** Each cell runs as this many slices, interleaved with the other targets' (default 4; 1 = one piece). */
    slices: { type: 'string' },
    'idle-sessions': { type: 'string' },
    /** Comma-separated substrings: run only the scenarios whose name contains one (e.g. `raw ping`). */
    only: { type: 'string' },
    /** Run the servers' TypeScript through tsx instead of the tsc build (how it ships). */
    tsx: { type: 'boolean', default: false },
    /** `off`: the proxies record metrics but build no spans (shows what tracing costs). */
    spans: { type: 'string', default: 'on' },
    /** Extra node options for the proxy process (e.g. `--no-allocation-site-pretenuring`). */
    'proxy-flags': { type: 'string', default: '' },
  },
});
const quick = flags.quick === true;
const ROUNDS = Number(flags.rounds ?? (quick ? 2 : 5));
const CELL_MS = Number(flags['duration-ms'] ?? (quick ? 400 : 1000));
const SLICES = Math.max(1, Math.floor(Number(flags.slices ?? (quick ? 2 : 4))));
// Two identical pass-throughs' throughput moved 12-40% (SD of the log ratio) from one 1-second
// round to the next (bench/README.md): a median of 5 rounds cannot tell 0.95x
// from 1.00x. The throughput target's scenarios run this many times in each round instead.
const THROUGHPUT_REPEATS = Math.max(1, Math.floor(Number(flags['throughput-repeats'] ?? (quick ? 1 : 3))));
/** Sessions per step of the whole proxy's idle-session measurement, and how many steps. */
const IDLE_SESSIONS = Number(flags['idle-sessions'] ?? (quick ? 2000 : 5000));
const IDLE_STEPS = quick ? 2 : 4;
const SESSIONS_PER_CLIENT = 8;
// The proxy children build spans and metrics and hand spans to an exporter that drops them
// (bench/proxyChild.ts); no OTEL_* variable from the caller's shell may send them anywhere.
for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
const SPANS_ON = flags.spans !== 'off';
// The proxy children read these (bench/proxyChild.ts).
process.env['BENCH_SPANS'] = SPANS_ON ? 'on' : 'off';
process.env['BENCH_BREAKDOWN'] = flags.breakdown ? '1' : '0';
const TELEMETRY_NOTE = SPANS_ON
  ? 'recording to SQLite and telemetry on in the proxy row (spans batched to a no-op exporter, metrics in-process)'
  : 'recording on, metrics only in the proxy row (--spans off: no spans built)';

type UpstreamId = 'raw' | 'fixture' | 'everything';
interface Scenario {
  name: string;
  upstream: UpstreamId;
  method: RpcMethod;
  concurrency: number;
}
const SCENARIOS: Scenario[] = [];
for (const [upstream, method] of [
  ['raw', 'ping'],
  ['everything', 'ping'],
  ['fixture', 'tools/list'],
  ['fixture', 'tools/call'],
] as const) {
  for (const concurrency of [1, 16]) {
    SCENARIOS.push({ name: `${upstream} ${method} c${concurrency}`, upstream, method, concurrency });
  }
}

if (flags.only) {
  const wanted = flags.only.split(',');
  SCENARIOS.splice(0, SCENARIOS.length, ...SCENARIOS.filter((s) => wanted.some((w) => s.name.includes(w))));
}

interface Target {
  name: string;
  /** Process whose CPU is the proxy's cost (null for direct). */
  pid: number | null;
  withChildren: boolean;
  urlFor(upstream: UpstreamId): string;
  clients: Map<UpstreamId, McpLoadClient>;
  /**
   * Finishes the work a target deferred during a slice (the proxies: the recorder's queued rows,
   * the spans waiting for their batch), inside the slice's CPU window, so that it is charged to
   * the slice that caused it rather than done while the next target is measured.
   */
  settle?: () => Promise<unknown>;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const toClose: Array<() => Promise<void>> = [];

/** Compiles src/, bench/ and the fixtures with tsc into .bench-build/, as dist/ is built for shipping. */
function compileChildren(): void {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const out = join(root, '.bench-build');
  log('compiling with tsc -p tsconfig.bench.json (use --tsx to skip)');
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.bench.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  // The store finds its migrations relative to its own file.
  rmSync(join(out, 'drizzle'), { force: true, recursive: true });
  symlinkSync(join(root, 'drizzle'), join(out, 'drizzle'));
  useCompiledChildren(out);
}

async function main(): Promise<void> {
  if (!flags.tsx) compileChildren();
  log(`mode=${quick ? 'quick' : 'full'} rounds=${ROUNDS} cell=${CELL_MS}ms idleSessions=${IDLE_SESSIONS}`);
  const raw = await track(startChild('raw upstream', './rawUpstream.ts'));
  const fixture = await track(startChild('fixture upstream', './fixtureUpstream.ts'));
  const everything = await startServerEverything('streamableHttp');
  toClose.push(() => everything.close());
  const upstreamUrls: Record<UpstreamId, string> = {
    raw: `http://127.0.0.1:${raw.ready.port}/mcp`,
    fixture: `http://127.0.0.1:${fixture.ready.port}/mcp`,
    everything: everything.url,
  };
  const pairs = Object.entries(upstreamUrls).map(([id, url]) => `${id}=${url}`);

  const passThrough = await track(startChild('pass-through', './passThrough.ts', pairs));
  // The A/A control: the same pass-through again, in its own process (bench/report.ts).
  const control = await track(startChild(PASS_THROUGH_CONTROL, './passThrough.ts', pairs));
  const proxyFlags = ['--expose-gc', ...(flags['proxy-flags'] ?? '').split(' ').filter(Boolean)];
  if (flags.profile)
    proxyFlags.push('--cpu-prof', '--cpu-prof-dir=bench/profiles', '--cpu-prof-interval=250');
  const proxy = await track(startChild('proxy', './proxyChild.ts', pairs, proxyFlags));
  const generic = await track(startChild(GENERIC_PROXY, './genericProxy.ts', pairs));
  if (flags.profile) log(`profiling proxy pid ${proxy.pid}`);
  const nginx = await startNginx(await findFreePort(), upstreamUrls).catch((err) => {
    log(`nginx skipped: ${(err as Error).message}`);
    return null;
  });
  if (nginx) toClose.push(() => nginx.close());
  else log('nginx not installed or not started: no reference row');

  const via = (port: number) => (u: UpstreamId) => `http://127.0.0.1:${port}/mcp/${u}`;
  const targets: Target[] = [
    { name: 'direct', pid: null, withChildren: false, urlFor: (u) => upstreamUrls[u], clients: new Map() },
    {
      name: 'pass-through',
      pid: passThrough.pid,
      withChildren: false,
      urlFor: via(passThrough.ready.port),
      clients: new Map(),
    },
    {
      name: PASS_THROUGH_CONTROL,
      pid: control.pid,
      withChildren: false,
      urlFor: via(control.ready.port),
      clients: new Map(),
    },
    ...(nginx
      ? [{ name: 'nginx', pid: nginx.pid, withChildren: true, urlFor: via(nginx.port), clients: new Map() }]
      : []),
    {
      name: 'proxy',
      pid: proxy.pid,
      withChildren: true,
      urlFor: via(proxy.ready.port),
      clients: new Map(),
      settle: () => proxy.ask({ type: 'settle' }),
    },
    {
      name: GENERIC_PROXY,
      pid: generic.pid,
      withChildren: false,
      urlFor: via(generic.ready.port),
      clients: new Map(),
    },
  ];

  for (const t of targets) {
    for (const u of ['raw', 'fixture', 'everything'] as const) {
      const url = new URL(t.urlFor(u));
      const client = new McpLoadClient(url.origin, url.pathname);
      client.sessions = await client.openSessions(SESSIONS_PER_CLIENT);
      t.clients.set(u, client);
      toClose.push(() => client.close());
    }
  }
  if (flags.breakdown) {
    await printBreakdown(targets, new Map([['proxy', proxy]]));
    return;
  }
  if (flags.profile) {
    // Profile mode: load only the profiled proxies, then exit.
    for (const t of targets.filter((x) => x.name === 'proxy')) {
      // The scenarios --only names, else raw ping c16 (where the proxy's own cost shows most).
      const profiled = flags.only
        ? SCENARIOS
        : SCENARIOS.filter((x) => x.upstream === 'raw' && x.concurrency === 16);
      for (const s of profiled) {
        const m = await measure(t, s, 8000);
        log(
          `profiled ${t.name} ${s.name}: ${m.throughput.toFixed(0)} req/s, ${m.cpuMicrosPerRequest.toFixed(0)} µs CPU/req`,
        );
      }
    }
    log(
      'profile written to bench/profiles/ when the proxy exits; summarize with tsx bench/profileSummary.ts',
    );
    return;
  }
  log(`${targets.length} targets × ${SCENARIOS.length} scenarios, sessions open; warming up`);
  for (const s of SCENARIOS) for (const t of targets) await measure(t, s, Math.min(300, CELL_MS));

  gcByRow.clear(); // the warm-up's collections are not the rounds'
  const cells = new Map<string, CellSummary[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of SCENARIOS) {
      const repeats = THROUGHPUT_SCENARIOS.includes(s.name) ? THROUGHPUT_REPEATS : 1;
      for (let rep = 0; rep < repeats; rep++) {
        // A new order each round: no target always runs first, or always right after the same one.
        const order = balancedOrder(targets, round * repeats + rep);
        // Each cell is run as SLICES slices, in the order A B C D E, E D C B A, A B C D E, ...: the
        // cells that are compared in a round then span the same seconds, so drift slower than that
        // falls on all of them alike.
        const parts = new Map<string, Slice[]>(order.map((t) => [t.name, []]));
        for (let k = 0; k < SLICES; k++) {
          for (const t of k % 2 === 0 ? order : [...order].reverse()) {
            parts.get(t.name)!.push(await measureSlice(t, s, CELL_MS / SLICES));
          }
        }
        for (const t of order) {
          const key = `${s.name}|${t.name}`;
          if (!cells.has(key)) cells.set(key, []);
          cells.get(key)!.push(joinSlices(parts.get(t.name)!));
        }
      }
    }
    log(`round ${round + 1}/${ROUNDS} done`);
  }

  /** Medians of this target's per-round ratios to the pass-through (and p50 minus direct's) of the same round. */
  const pairedWith = (scenarioName: string, target: string, hasPid: boolean) =>
    pairedRatios({
      mine: cells.get(`${scenarioName}|${target}`) ?? [],
      passThrough: cells.get(`${scenarioName}|pass-through`) ?? [],
      direct: cells.get(`${scenarioName}|direct`) ?? [],
      hasCpu: hasPid,
    });
  const summary: Summary = { scenarios: [], idle: null, trackerIdle: null, recording: null };
  for (const s of SCENARIOS) {
    const rows = targets.map((t) => {
      const runs = cells.get(`${s.name}|${t.name}`) ?? [];
      return {
        target: t.name,
        throughput: median(runs.map((r) => r.throughput)),
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        cpuMicrosPerRequest: t.pid === null ? null : median(runs.map((r) => r.cpuMicrosPerRequest)),
        mainThreadCpuMicrosPerRequest: runs.every((r) => Number.isFinite(r.mainThreadCpuMicrosPerRequest))
          ? median(runs.map((r) => r.mainThreadCpuMicrosPerRequest))
          : null,
        firstEventMs: median(runs.map((r) => r.firstEventMs)),
        errors: runs.reduce((n, r) => n + r.errors, 0),
        requests: runs.reduce((n, r) => n + r.requests, 0),
        paired: pairedWith(s.name, t.name, t.pid !== null),
      };
    });
    summary.scenarios.push({ ...s, rows });
    // Where the proxies' garbage collection fell, by row (a process in V8's pretenuring regime shows here).
    for (const r of rows) {
      const g = gcByRow.get(`${s.name}|${r.target}`);
      if (g && g.requests > 0)
        log(
          `gc ${s.name} | ${r.target}: ${((g.minorMs * 1000) / g.requests).toFixed(2)} µs minor, ${((g.majorMs * 1000) / g.requests).toFixed(2)} µs major a request; young generation ${g.youngMiB.length ? `${Math.min(...g.youngMiB).toFixed(1)}-${Math.max(...g.youngMiB).toFixed(1)} MiB` : 'n/a'}`,
        );
    }
    if (flags.only)
      for (const r of rows)
        if (r.paired && r.target !== 'direct')
          log(
            `paired ${s.name} | ${r.target}: throughput ${r.paired.throughputVsPassThrough.toFixed(2)}x ${range(r.paired.rounds?.throughputVsPassThrough)}, ` +
              `CPU ${r.paired.cpuVsPassThrough?.toFixed(2) ?? 'n/a'}x ${range(r.paired.rounds?.cpuVsPassThrough)} pass-through, ` +
              `+p50 ${r.paired.addedP50VsDirectMs.toFixed(3)} ms ${range(r.paired.rounds?.addedP50VsDirectMs, 3)}`,
          );
  }

  log(`idle sessions: opening ${IDLE_STEPS} × ${IDLE_SESSIONS} through the proxy`);
  summary.idle = await idleSessionCost(proxy, via(proxy.ready.port)('raw'));
  summary.trackerIdle = trackerOnlyCost(quick ? 20_000 : 50_000);
  summary.recording = JSON.parse(runBenchScript('./recordingCost.ts', [String(quick ? 20_000 : 50_000)]));
  // After every proxy cell, so that its PostgreSQL server never shares the cores with them; a
  // partial run (--only) leaves it out (`npm run bench:postgres` runs it alone).
  const postgres = flags.only
    ? { skipped: 'partial run (--only)' }
    : measurePostgresRecording(runBenchScript, quick, log);

  const targetsMet = evaluateTargets(summary);
  const results = {
    generatedAt: new Date().toISOString(),
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
    settings: {
      rounds: ROUNDS,
      cellMs: CELL_MS,
      slicesPerCell: SLICES,
      throughputRounds: ROUNDS * THROUGHPUT_REPEATS,
      sessionsPerClient: SESSIONS_PER_CLIENT,
      idleSessions: IDLE_SESSIONS,
      idleSteps: IDLE_STEPS,
      proxyFlags: flags['proxy-flags'] || null,
    },
    telemetry: TELEMETRY_NOTE,
    summary,
    targets: targetsMet,
    postgres,
  };
  const md = renderMarkdown(results) + renderPostgresSection(postgres);
  // A partial run (--only, --spans off, --proxy-flags) prints its table but never replaces the
  // full run's results.
  if (!flags.only && SPANS_ON && !flags['proxy-flags']) {
    const benchDir = new URL('.', import.meta.url);
    writeFileSync(new URL('results.json', benchDir), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(new URL('results.md', benchDir), md);
  }
  process.stdout.write(md);
}

/** `(IQR 0.80-0.95)`: the quartiles of a paired ratio's per-round values, or ''. */
function range(values: readonly number[] | null | undefined, digits = 2): string {
  const text = iqrText(values, digits);
  return text ? `(${text})` : '';
}

/**
 * `--breakdown`: the pass-through and the proxy in turn, 2 × 3 s each per scenario (raw ping
 * c16 unless --only), then each proxy's timed hooks per request beside its CPU per request.
 */
async function printBreakdown(targets: readonly Target[], children: ReadonlyMap<string, BenchChild>) {
  const scenarios = flags.only
    ? SCENARIOS
    : SCENARIOS.filter((x) => x.upstream === 'raw' && x.concurrency === 16);
  const loaded = targets.filter((t) => t.name === 'pass-through' || children.has(t.name));
  for (const s of scenarios) {
    for (const t of loaded) await measure(t, s, 1000);
    for (const child of children.values()) await child.ask({ type: 'breakdown-reset' });
    const totals = new Map<string, { requests: number; cpuMicros: number; seconds: number }>();
    for (let turn = 0; turn < 2; turn++) {
      for (const t of turn === 0 ? loaded : [...loaded].reverse()) {
        const { r, cpuMicros } = await measureSlice(t, s, 3000);
        const sum = totals.get(t.name) ?? { requests: 0, cpuMicros: 0, seconds: 0 };
        sum.requests += r.requests;
        sum.cpuMicros += cpuMicros ?? 0;
        sum.seconds += r.seconds;
        totals.set(t.name, sum);
      }
    }
    const pass = totals.get('pass-through')!;
    const passCpu = pass.cpuMicros / pass.requests;
    process.stdout.write(
      `\n${s.name}: pass-through ${(pass.requests / pass.seconds).toFixed(0)} req/s, ${passCpu.toFixed(1)} µs CPU/req\n`,
    );
    for (const [name, child] of children) {
      const sum = totals.get(name)!;
      const cpu = sum.cpuMicros / sum.requests;
      const rows = await child.ask<BreakdownRow[]>({ type: 'breakdown' });
      process.stdout.write(
        `\n${name}: ${(sum.requests / sum.seconds).toFixed(0)} req/s, ${cpu.toFixed(1)} µs CPU/req (${(cpu / passCpu).toFixed(2)}x the pass-through)\n\n`,
      );
      process.stdout.write(
        '| timed in the proxy | µs per call | calls per request | µs per request |\n|---|--:|--:|--:|\n',
      );
      const topLevel = rows.filter((row) => !row.name.startsWith(' '));
      const hooks = topLevel.reduce((n, row) => n + row.totalMicros, 0) / sum.requests;
      for (const row of rows) {
        if (row.calls === 0) continue;
        const name = row.name.startsWith(' ')
          ? `${'↳ '.repeat(row.name.length - row.name.trimStart().length)}${row.name.trim()}`
          : row.name;
        process.stdout.write(
          `| ${name} | ${row.microsPerCall.toFixed(2)} | ${(row.calls / sum.requests).toFixed(2)} | ${(row.totalMicros / sum.requests).toFixed(2)} |\n`,
        );
      }
      process.stdout.write(
        `| **all of the above** | | | **${hooks.toFixed(2)}** (CPU over the pass-through: ${(cpu - passCpu).toFixed(1)}) |\n`,
      );
    }
  }
}

/** Garbage collection in the proxies by row and scenario (`settle` reports it): printed after every run. */
const gcByRow = new Map<string, { requests: number; minorMs: number; majorMs: number; youngMiB: number[] }>();

async function measureSlice(t: Target, s: Scenario, ms: number, row = t.name): Promise<Slice> {
  const client = t.clients.get(s.upstream)!;
  const cpu0 = t.pid === null ? null : cpuSampleOf(t.pid, t.withChildren);
  const r = await client.run(s.method, s.concurrency, ms);
  const settled = (await t.settle?.()) as
    | { gcMs?: { minor: number; major: number }; youngBytes?: number | null }
    | undefined;
  if (settled?.gcMs) {
    const key = `${s.name}|${row}`;
    const g = gcByRow.get(key) ?? { requests: 0, minorMs: 0, majorMs: 0, youngMiB: [] };
    g.requests += r.requests;
    g.minorMs += settled.gcMs.minor;
    g.majorMs += settled.gcMs.major;
    if (settled.youngBytes != null) g.youngMiB.push(settled.youngBytes / 2 ** 20);
    gcByRow.set(key, g);
  }
  const cpu1 = t.pid === null ? null : cpuSampleOf(t.pid, t.withChildren);
  const cpuMicros = cpu0 && cpu1 ? cpu1.total - cpu0.total : null;
  // Null for a process tree (nginx's master and workers): no one main thread to compare.
  const mainThreadCpuMicros =
    cpu0?.mainThread != null && cpu1?.mainThread != null ? cpu1.mainThread - cpu0.mainThread : null;
  if (r.errors > 0) log(`${s.name} via ${t.name}: ${r.errors} errors`);
  return { r, cpuMicros, mainThreadCpuMicros };
}

async function measure(t: Target, s: Scenario, ms: number) {
  return joinSlices([await measureSlice(t, s, ms)]);
}

/**
 * RSS and heap per idle tracked session through the whole proxy: after a warm-up, IDLE_STEPS steps
 * of N more sessions, each measured after a flush and a full GC; the median step is reported.
 * One step alone moved between about 1.1 and 2.7 KB from run to run (RSS grows in the allocator's
 * and V8's chunks, and the first step after warm-up also paid for caches filling up), so the
 * steps show the spread and their median is what one more idle session costs.
 */
async function idleSessionCost(proxy: BenchChild, url: string): Promise<IdleCost> {
  type Mem = { rss: number; heapUsed: number; trackedSessions: number };
  const u = new URL(url);
  const client = new McpLoadClient(u.origin, u.pathname, 16);
  await client.openSessions(200); // warm the allocator and the store's caches first
  const sample = async () => {
    await proxy.ask({ type: 'flush' });
    const mem = await proxy.ask<Mem>({ type: 'mem' });
    return { sessions: mem.trackedSessions, heap: mem.heapUsed, rss: rssBytesOf(proxy.pid) };
  };
  const steps: IdleStep[] = [];
  let before = await sample();
  const first = before;
  for (let i = 0; i < IDLE_STEPS; i++) {
    await client.openSessions(IDLE_SESSIONS);
    const after = await sample();
    const n = after.sessions - before.sessions;
    steps.push({
      rssBytesPerSession: (after.rss - before.rss) / n,
      heapBytesPerSession: (after.heap - before.heap) / n,
    });
    before = after;
  }
  await client.close();
  const rss = median(steps.map((x) => x.rssBytesPerSession));
  return {
    sessions: before.sessions - first.sessions,
    rssBytesPerSession: rss,
    heapBytesPerSession: median(steps.map((x) => x.heapBytesPerSession)),
    rssKbPer1000Sessions: rss * (1000 / 1024),
    steps,
  };
}

/** The tracker alone in a fresh process (bench/trackerMemory.ts): no store, no sockets, no allocator noise. */
function trackerOnlyCost(sessions: number): IdleCost {
  const out = runBenchScript('./trackerMemory.ts', [String(sessions)]);
  const m = JSON.parse(out) as Omit<IdleCost, 'rssKbPer1000Sessions'>;
  return { ...m, rssKbPer1000Sessions: m.rssBytesPerSession * (1000 / 1024) };
}

/** Runs a one-shot measurement script in a fresh node process; returns its stdout. */
function runBenchScript(file: string, args: string[]): string {
  return execFileSync(process.execPath, ['--expose-gc', ...childEntry(file), ...args], { encoding: 'utf8' });
}

async function track(p: Promise<BenchChild>): Promise<BenchChild> {
  const child = await p;
  toClose.push(() => child.close());
  return child;
}

try {
  await main();
} finally {
  for (const close of toClose.reverse()) await close().catch(() => undefined);
}
