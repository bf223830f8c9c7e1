// Turns the measurements into cells, medians and paired ratios, checks the issue's targets and
// renders the table. Everything here is pure (tested in test/bench.report.test.ts).
import { type CellResult, median, percentile } from './load.js';

export interface Row {
  target: string;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  cpuMicrosPerRequest: number | null;
  /**
   * The part of it on the process's main thread (JavaScript, the event loop, its syscalls), without
   * V8's GC and libuv's helper threads. Every request passes through that one thread, so at c16 it
   * paces throughput more than the total does. Absent in older runs, null
   * for targets measured as a process tree (nginx) or without a process (direct).
   */
  mainThreadCpuMicrosPerRequest?: number | null;
  firstEventMs: number;
  errors: number;
  requests: number;
  /**
   * Medians of per-round ratios against the pass-through (and the added p50 over direct) of
   * the same round. The cells of one round run back to back, so these pair numbers taken
   * seconds apart: on a machine whose speed drifts (a shared VM) they are steadier than a
   * ratio of two medians gathered minutes apart.
   */
  paired?: {
    throughputVsPassThrough: number;
    cpuVsPassThrough: number | null;
    /** Main-thread CPU per request against the pass-through's main thread (see `mainThreadCpuMicrosPerRequest`). */
    mainThreadCpuVsPassThrough?: number | null;
    addedP50VsDirectMs: number;
    /**
     * The per-round values the medians above are taken from, in round order: how far apart the
     * rounds of one run are shows how much of a difference the host's noise can explain.
     */
    rounds?: {
      throughputVsPassThrough: number[];
      cpuVsPassThrough: number[] | null;
      mainThreadCpuVsPassThrough?: number[] | null;
      addedP50VsDirectMs: number[];
    };
  };
}

/** One target's numbers for one scenario in one round. */
export interface CellSummary {
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** NaN when the target has no process of its own to measure (direct). */
  cpuMicrosPerRequest: number;
  /** Its main thread's part; NaN when not measured (direct, nginx). */
  mainThreadCpuMicrosPerRequest: number;
  firstEventMs: number;
  errors: number;
  requests: number;
}

/** What one slice of a cell measured: the load generator's result and the target's CPU over it. */
export interface Slice {
  r: CellResult;
  cpuMicros: number | null;
  /** The main thread's share of `cpuMicros`, when it was read. */
  mainThreadCpuMicros?: number | null;
}

export function cellSummary(
  r: CellResult,
  cpuMicros: number | null,
  mainThreadCpuMicros: number | null = null,
): CellSummary {
  const perRequest = (micros: number | null) =>
    micros === null || r.requests === 0 ? Number.NaN : micros / r.requests;
  return {
    throughput: r.requests / r.seconds,
    p50Ms: percentile(r.latenciesMs, 50),
    p99Ms: percentile(r.latenciesMs, 99),
    cpuMicrosPerRequest: perRequest(cpuMicros),
    mainThreadCpuMicrosPerRequest: perRequest(mainThreadCpuMicros),
    firstEventMs: percentile(r.firstEventMs, 50),
    errors: r.errors,
    requests: r.requests,
  };
}

/** One cell from its slices: requests, time and CPU added up, latencies pooled. */
export function joinSlices(slices: readonly Slice[]): CellSummary {
  const byNumber = (a: number, b: number) => a - b;
  const r: CellResult = {
    requests: slices.reduce((n, x) => n + x.r.requests, 0),
    errors: slices.reduce((n, x) => n + x.r.errors, 0),
    seconds: slices.reduce((n, x) => n + x.r.seconds, 0),
    latenciesMs: slices.flatMap((x) => x.r.latenciesMs).sort(byNumber),
    firstEventMs: slices.flatMap((x) => x.r.firstEventMs).sort(byNumber),
  };
  const sum = (of: (x: Slice) => number | null | undefined) =>
    slices.some((x) => of(x) == null) ? null : slices.reduce((n, x) => n + of(x)!, 0);
  return cellSummary(
    r,
    sum((x) => x.cpuMicros),
    sum((x) => x.mainThreadCpuMicros),
  );
}

/**
 * A target's cells against the pass-through's (and direct's) in
 * the same rounds: each round gives one ratio, and the medians are of those ratios. Cells are
 * paired by round index; rounds beyond the shortest list are left out. Undefined with no round.
 */
export function pairedRatios(cells: {
  mine: readonly CellSummary[];
  passThrough: readonly CellSummary[];
  direct: readonly CellSummary[];
  /** False for a target without a process of its own (direct): no CPU ratios. */
  hasCpu: boolean;
}): Row['paired'] {
  const { mine, passThrough: base, direct, hasCpu } = cells;
  const n = Math.min(mine.length, base.length, direct.length);
  if (n === 0) return undefined;
  const idx = [...Array(n).keys()];
  const rounds = {
    throughputVsPassThrough: idx.map((i) => mine[i]!.throughput / base[i]!.throughput),
    cpuVsPassThrough: hasCpu
      ? idx.map((i) => mine[i]!.cpuMicrosPerRequest / base[i]!.cpuMicrosPerRequest)
      : null,
    mainThreadCpuVsPassThrough: idx.every(
      (i) =>
        Number.isFinite(mine[i]!.mainThreadCpuMicrosPerRequest) &&
        Number.isFinite(base[i]!.mainThreadCpuMicrosPerRequest),
    )
      ? idx.map((i) => mine[i]!.mainThreadCpuMicrosPerRequest / base[i]!.mainThreadCpuMicrosPerRequest)
      : null,
    addedP50VsDirectMs: idx.map((i) => mine[i]!.p50Ms - direct[i]!.p50Ms),
  };
  return {
    throughputVsPassThrough: median(rounds.throughputVsPassThrough),
    cpuVsPassThrough: rounds.cpuVsPassThrough ? median(rounds.cpuVsPassThrough) : null,
    mainThreadCpuVsPassThrough: rounds.mainThreadCpuVsPassThrough
      ? median(rounds.mainThreadCpuVsPassThrough)
      : null,
    addedP50VsDirectMs: median(rounds.addedP50VsDirectMs),
    rounds,
  };
}

/**
 * `bench/history.ts`'s model. On 2 cores shared by the load generator, the upstream and the proxy,
 * a closed loop at c16 is paced by the CPU all three spend per request. With C the client's and
 * upstream's CPU per request and P a proxy's, throughput is proportional to 1 / (C + P), so the
 * throughput ratio to the pass-through is (k + 1) / (k + CPU ratio), with k = C / P(pass-through).
 */
export function modelThroughput(k: number, cpuRatio: number): number {
  return (k + 1) / (k + cpuRatio);
}

/** The k (0.05 to 20, in steps of 0.05) that fits the rounds best by least squares, and its rms error. */
export function fitModel(points: ReadonlyArray<{ cpu: number; throughput: number }>): {
  k: number;
  rms: number;
} {
  let best = { k: Number.NaN, err: Number.POSITIVE_INFINITY };
  for (let step = 1; step <= 400; step++) {
    const k = step * 0.05;
    const err = points.reduce((e, p) => e + (modelThroughput(k, p.cpu) - p.throughput) ** 2, 0);
    if (err < best.err) best = { k, err };
  }
  return { k: best.k, rms: Math.sqrt(best.err / points.length) };
}

/** The largest CPU ratio at which the model still gives `throughput` (e.g. 0.95): (k + 1) / t - k. */
export function cpuRatioFor(k: number, throughput: number): number {
  return (k + 1) / throughput - k;
}

export interface ScenarioSummary {
  name: string;
  upstream: string;
  method: string;
  concurrency: number;
  rows: Row[];
}

/**
 * The order targets take turns in, for round `row`: a Williams design. Rotating one order each
 * round keeps every target between the same two neighbours for the whole run, and what a slice
 * leaves behind (the load generator's and the upstream's state, caches) then falls on the same
 * target every time: two identical proxies differed by 1-9 points of throughput that way
 * (bench/README.md). Here every target runs right after every other one equally
 * often over a cycle of `n` rows (`2n` when `n` is odd, the second half reversed), and each target
 * still comes first once in each `n` rows.
 */
export function balancedOrder<T>(list: readonly T[], row: number): T[] {
  const n = list.length;
  if (n < 2) return [...list];
  // 0, 1, n-1, 2, n-2, ...: the differences between neighbours are all distinct mod n.
  const base: number[] = [0];
  for (let lo = 1, hi = n - 1; base.length < n; ) base.push(base.length % 2 === 1 ? lo++ : hi--);
  const r = ((row % (2 * n)) + 2 * n) % (2 * n);
  const order = base.map((j) => list[(j + r) % n]!);
  return n % 2 === 1 && r >= n ? order.reverse() : order;
}

/**
 * The scenarios the throughput target is judged on. A round there compares two Node processes
 * whose throughput ratio moves 12-40% (SD of its log) from one 1-second round to the next even when
 * they are identical, so they are measured in more rounds than the rest (`bench/run.ts`).
 */
export const THROUGHPUT_SCENARIOS: readonly string[] = ['raw ping c16', 'everything ping c16'];

export interface IdleStep {
  rssBytesPerSession: number;
  heapBytesPerSession: number;
}

export interface IdleCost {
  sessions: number;
  /** The median step's when there are `steps`. */
  rssBytesPerSession: number;
  heapBytesPerSession: number;
  rssKbPer1000Sessions: number;
  /** Through the proxy: one entry per step of more sessions (older results have none). */
  steps?: IdleStep[];
}

/** ` (median of 4 steps of 5000: 1301-1809 B)` for a measurement in steps, else ''. */
function stepsText(idle: IdleCost): string {
  const rss = (idle.steps ?? []).map((x) => x.rssBytesPerSession);
  if (rss.length < 2) return '';
  return ` (median of ${rss.length} steps of ${f(idle.sessions / rss.length, 0)}: ${f(Math.min(...rss), 0)}-${f(Math.max(...rss), 0)} B)`;
}

export interface Summary {
  scenarios: ScenarioSummary[];
  /** Through the proxy process (store, sockets and allocator included), in steps. */
  idle: IdleCost | null;
  /** The SessionTracker alone in a fresh process: what one more idle session costs. */
  trackerIdle: IdleCost | null;
  /** bench/recordingCost.ts: CPU per exchange of tracker alone vs tracker + recorder + SQLite, no sockets. */
  recording: {
    exchanges: number;
    trackerOnlyMicros: number;
    trackerRecorderSqliteMicros: number;
    /** Tracker + telemetry hooks (spans to a no-op exporter, metrics). */
    trackerTelemetryMicros?: number;
  } | null;
}

export interface TargetCheck {
  target: string;
  limit: string;
  measured: string;
  met: boolean;
}

const PROXY = 'proxy';
/** A generic Node reverse proxy (bench/genericProxy.ts): where users would otherwise stand. A comparison, not a target. */
export const GENERIC_PROXY = 'generic proxy (http-proxy-3)';
const PASS_THROUGH = 'pass-through';
/**
 * A second pass-through process, identical to the first: an A/A control. Its paired ratios to the
 * first show how far two identical processes land apart in this run, the bench's resolution
 * beside every verdict that compares the proxy with the pass-through.
 */
export const PASS_THROUGH_CONTROL = 'pass-through (A/A)';
const DIRECT = 'direct';

function row(s: ScenarioSummary | undefined, target: string): Row | undefined {
  return s?.rows.find((r) => r.target === target);
}

function scenario(summary: Summary, name: string): ScenarioSummary | undefined {
  return summary.scenarios.find((s) => s.name === name);
}

const f = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits);

/**
 * The quartiles of the per-round values behind a paired median (25th and 75th percentile,
 * interpolated), or null with fewer than 3 rounds.
 */
function interquartile(values: readonly number[] | null | undefined): [number, number] | null {
  const v = (values ?? []).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length < 3) return null;
  const at = (q: number) => {
    const pos = q * (v.length - 1);
    const lo = Math.floor(pos);
    return v[lo]! + (v[Math.min(lo + 1, v.length - 1)]! - v[lo]!) * (pos - lo);
  };
  return [at(0.25), at(0.75)];
}

/** `IQR 0.80-0.95`: where the middle half of the rounds fell, or '' with fewer than 3 rounds. */
export function iqrText(values: readonly number[] | null | undefined, digits = 2): string {
  const q = interquartile(values);
  return q ? `IQR ${f(q[0], digits)}-${f(q[1], digits)}` : '';
}

/** `; rounds IQR 0.80-0.95` after a paired median in the targets table, or ''. */
function spread(values: readonly number[] | null | undefined, digits = 2): string {
  const text = iqrText(values, digits);
  return text ? `; rounds ${text}` : '';
}

/**
 * `; main thread 1.12x (IQR 1.05-1.20)` or `; A/A control 1.02x (IQR 0.97-1.06)`: a second paired
 * ratio shown after a target's own, or '' when the run has none.
 */
function ratioText(
  label: string,
  ratio: number | null | undefined,
  rounds: readonly number[] | null | undefined,
): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '';
  const text = iqrText(rounds);
  return `; ${label} ${f(ratio)}x${text ? ` (${text})` : ''}`;
}

export function evaluateTargets(summary: Summary): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const name of THROUGHPUT_SCENARIOS) {
    const s = scenario(summary, name);
    if (!s) continue;
    const p = row(s, PROXY);
    const b = row(s, PASS_THROUGH);
    const cpuRatio =
      p?.paired?.cpuVsPassThrough ??
      (p?.cpuMicrosPerRequest ?? Number.NaN) / (b?.cpuMicrosPerRequest ?? Number.NaN);
    const control = row(s, PASS_THROUGH_CONTROL)?.paired;
    checks.push({
      target: `CPU per request vs pass-through (${name})`,
      limit: '≤ 1.3x',
      measured: `${f(cpuRatio)}x paired (medians ${f(p?.cpuMicrosPerRequest, 0)} vs ${f(b?.cpuMicrosPerRequest, 0)} µs${spread(p?.paired?.rounds?.cpuVsPassThrough)})${ratioText('main thread', p?.paired?.mainThreadCpuVsPassThrough, p?.paired?.rounds?.mainThreadCpuVsPassThrough)}${ratioText('A/A control', control?.cpuVsPassThrough, control?.rounds?.cpuVsPassThrough)}`,
      met: cpuRatio <= 1.3,
    });
    const tputRatio =
      p?.paired?.throughputVsPassThrough ?? (p?.throughput ?? Number.NaN) / (b?.throughput ?? Number.NaN);
    checks.push({
      target: `Throughput vs pass-through (${name})`,
      limit: '≥ 0.9x',
      measured: `${f(tputRatio)}x paired (medians ${f(p?.throughput, 0)} vs ${f(b?.throughput, 0)} req/s${spread(p?.paired?.rounds?.throughputVsPassThrough)})${ratioText('A/A control', control?.throughputVsPassThrough, control?.rounds?.throughputVsPassThrough)}`,
      met: tputRatio >= 0.9,
    });
  }
  const c1 = scenario(summary, 'raw ping c1');
  if (c1) {
    const ofMedians = (row(c1, PROXY)?.p50Ms ?? Number.NaN) - (row(c1, DIRECT)?.p50Ms ?? Number.NaN);
    const added = row(c1, PROXY)?.paired?.addedP50VsDirectMs ?? ofMedians;
    const passThrough = row(c1, PASS_THROUGH)?.paired?.addedP50VsDirectMs;
    checks.push({
      target: 'Added p50 latency over direct (raw ping c1)',
      limit: '≤ 0.3 ms',
      measured: `${f(added, 3)} ms paired (of medians ${f(ofMedians, 3)}; the pass-through adds ${f(passThrough, 3)}${spread(row(c1, PROXY)?.paired?.rounds?.addedP50VsDirectMs, 3)})`,
      met: added <= 0.3,
    });
  }
  {
    const t = summary.trackerIdle;
    const perSession = t?.rssBytesPerSession ?? Number.NaN;
    const idle = summary.idle;
    // Both must be within the limit: the tracker alone (what a session holds) and the whole proxy
    // (what a user's RSS shows). Results from before the proxy was measured in steps were judged
    // on the tracker alone: one step through the proxy was too noisy to judge by.
    const judgesProxy = idle !== null && (idle.steps?.length ?? 0) >= 2;
    checks.push({
      target: `RSS per idle tracked session (tracker alone, ${t?.sessions ?? 0} sessions${judgesProxy ? '; whole proxy' : ''})`,
      limit: '≤ 2048 B',
      measured: `${f(perSession, 0)} B (heap ${f(t?.heapBytesPerSession, 0)} B); whole proxy: ${f(
        idle?.rssBytesPerSession,
        0,
      )} B RSS${idle ? stepsText(idle) : ''}, ${f(idle?.heapBytesPerSession, 0)} B heap`,
      met: perSession <= 2048 && (!judgesProxy || idle.rssBytesPerSession <= 2048),
    });
  }
  const sse = scenario(summary, 'fixture tools/call c1');
  if (sse) {
    const delta =
      (row(sse, PROXY)?.firstEventMs ?? Number.NaN) - (row(sse, DIRECT)?.firstEventMs ?? Number.NaN);
    checks.push({
      target: 'First SSE event vs direct (fixture tools/call c1, p50)',
      limit: '≤ +1 ms',
      measured: `${f(delta, 3)} ms`,
      met: delta <= 1,
    });
  }
  return checks;
}

export function renderMarkdown(results: {
  generatedAt: string;
  command: string;
  machine: { cpus: number; cpuModel: string; node: string };
  settings: {
    rounds: number;
    cellMs: number;
    slicesPerCell?: number;
    throughputRounds?: number;
  };
  telemetry: string;
  summary: Summary;
  targets: TargetCheck[];
}): string {
  const lines: string[] = [];
  const { summary } = results;
  lines.push(
    `Command: \`${results.command}\` · ${results.generatedAt} · ${results.machine.cpus} cores (${results.machine.cpuModel}), Node ${results.machine.node} · ${results.settings.rounds} interleaved rounds of ${results.settings.cellMs} ms per cell${(results.settings.slicesPerCell ?? 1) > 1 ? ` (${results.settings.slicesPerCell} slices, interleaved across targets)` : ''}${
      (results.settings.throughputRounds ?? results.settings.rounds) > results.settings.rounds
        ? `; ${results.settings.throughputRounds} rounds for ${THROUGHPUT_SCENARIOS.join(' and ')}`
        : ''
    }, medians · ${results.telemetry}`,
    '',
    '| scenario | target | req/s | ÷ direct | ÷ pass-through | p50 ms | +p50 ms | p99 ms | +p99 ms | CPU µs/req | main thread µs/req | first SSE event ms |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const s of summary.scenarios) {
    const d = row(s, DIRECT);
    const b = row(s, PASS_THROUGH);
    for (const r of s.rows) {
      const direct = r.target === DIRECT;
      lines.push(
        `| ${s.name} | ${r.target} | ${f(r.throughput, 0)} | ${f(r.throughput / (d?.throughput ?? Number.NaN))} | ${f(
          r.throughput / (b?.throughput ?? Number.NaN),
        )} | ${f(r.p50Ms)} | ${direct ? '' : f(r.p50Ms - (d?.p50Ms ?? Number.NaN))} | ${f(r.p99Ms)} | ${
          direct ? '' : f(r.p99Ms - (d?.p99Ms ?? Number.NaN))
        } | ${f(r.cpuMicrosPerRequest, 0)} | ${r.mainThreadCpuMicrosPerRequest == null ? '' : f(r.mainThreadCpuMicrosPerRequest, 0)} | ${s.method === 'tools/call' ? f(r.firstEventMs) : ''} |`,
      );
    }
  }
  if (summary.idle) {
    lines.push(
      '',
      `Idle tracked sessions: ${summary.idle.sessions} opened through the proxy (recording on): ${f(
        summary.idle.rssBytesPerSession,
        0,
      )} B RSS${stepsText(summary.idle)} and ${f(summary.idle.heapBytesPerSession, 0)} B heap per session (${f(
        summary.idle.rssKbPer1000Sessions,
        0,
      )} KB RSS per 1,000).`,
    );
  }
  if (summary.trackerIdle) {
    lines.push(
      `SessionTracker alone (fresh process, ${summary.trackerIdle.sessions} sessions): ${f(
        summary.trackerIdle.rssBytesPerSession,
        0,
      )} B RSS and ${f(summary.trackerIdle.heapBytesPerSession, 0)} B heap per idle session.`,
    );
  }
  if (summary.recording) {
    lines.push(
      `Recording alone (bench/recordingCost.ts, ${summary.recording.exchanges} exchanges, no sockets): tracker ${f(
        summary.recording.trackerOnlyMicros,
        1,
      )} µs, tracker + recorder + SQLite ${f(summary.recording.trackerRecorderSqliteMicros, 1)} µs, tracker + telemetry ${f(
        summary.recording.trackerTelemetryMicros,
        1,
      )} µs CPU per exchange.`,
    );
  }
  lines.push('', '| target | limit | measured | met |', '|---|---|---|---|');
  for (const t of results.targets)
    lines.push(`| ${t.target} | ${t.limit} | ${t.measured} | ${t.met ? 'yes' : 'no'} |`);
  return `${lines.join('\n')}\n`;
}
