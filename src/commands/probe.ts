import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { canonicalServerUrl } from '../auth/tokenStore.js';
import {
  applyCliOverrides,
  CONFIG_PATH_ENV,
  ConfigError,
  defaultConfig,
  loadConfig,
} from '../config/load.js';
import { type Config, PROBE_MODES, type ProbeMode, type UpstreamConfig } from '../config/schema.js';
import {
  DEFAULT_MAX_IDLE_SECONDS,
  DEFAULT_SEARCH_BUDGET,
  describeDuration,
  estimateProbeDuration,
} from '../probe/defaults.js';
import { intervalSummary, progressLine, resultTable, searchSummary } from '../probe/format.js';
import type { ProbeResult } from '../probe/result.js';
import {
  chooseProbeMode,
  DEFAULT_INTERVALS_SECONDS,
  QUICK_INTERVALS_SECONDS,
  startProbeRun,
} from '../probe/run.js';
import { failInterruptedRuns } from '../probe/runner.js';
import { passiveWindowFrom } from '../probe/searchHint.js';
import { redactUrl } from '../security/redact.js';
import { openStoreForUpstreams } from '../store/index.js';
import { createRecorder } from '../store/recorder.js';
import { setupTelemetry } from '../telemetry/setup.js';

export const PROBE_USAGE = `Usage: mcp-session-probe probe [--config FILE] [--db PATH] [--upstreams a,b] [--intervals 5,30,60]
                             [--quick] [--mode search|ladder|fanout|bisect] [--max-idle 3600] [--budget 32]
                             [--output FILE] [--json] [--timeout 60] [--hold-stream] [--keepalive SECONDS] [--demo]
       mcp-session-probe probe --url URL [options]   (no config: one server, with its stored login if any)

Actively probes how long each upstream keeps an idle MCP session, read-only (initialize,
notifications/initialized, tools/list, ping, DELETE; never tools/call). All upstreams at once.

  --upstreams a,b     only these upstream ids (alias --connectors)
  --intervals LIST    idle gaps in seconds (default ${DEFAULT_INTERVALS_SECONDS.join(',')}); --quick: ${QUICK_INTERVALS_SECONDS.join(',')}
  --mode MODE         search (default without --intervals/--quick: finds an unknown idle timeout T
                      within max(1 s, 5% of T) in at most 2T + 10 s), fanout (default with --intervals:
                      one session per gap, all at once), ladder (one session, checkpoints at offsets
                      from the first call), bisect (fanout, then narrow the window)
  --max-idle S        search: the largest idle gap it tests (default ${DEFAULT_MAX_IDLE_SECONDS})
  --hold-stream       hold a standalone GET stream during idle periods, as SDK clients do
  --keepalive N       also test whether a ping every N s keeps a session alive past the window
  --timeout S         per-call timeout in seconds (default: each upstream's timeoutSeconds, 60)
  --budget N          search: sessions it may open on each upstream (default ${DEFAULT_SEARCH_BUDGET});
                      bisect: sessions it may spend after the fanout (default 16)
  --output FILE       result JSON (default mcp_session_probe_<timestamp>.json); --json prints it on stdout
  --url URL           probe this server without a config (uses a login stored by "login --url URL")
  --demo              probe a built-in demo upstream, id "probe-demo" (sessions expire after 3 s idle)

Progress goes to stderr, the table to stdout. Exit codes: 0 done, 2 usage/config error,
nothing to probe or every upstream failed, 130 interrupted (what was measured is still written).`;

const DEMO_IDLE_TIMEOUT_MS = 3000;
const DEMO_INTERVALS = [1, 2, 5];
/**
 * Not serve's `demo`: both default to the same database, and the two demos time out
 * differently (3 s here, 30 s there), so one id would mix their observations on one dashboard.
 */
export const PROBE_DEMO_UPSTREAM_ID = 'probe-demo';

class UsageError extends Error {}

function parseSecondsList(flag: string, raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  const bad = parts.find((p, i) => p === '' || !Number.isFinite(values[i]) || values[i]! <= 0);
  if (bad !== undefined) {
    throw new UsageError(
      `${flag} "${raw}": "${bad}" is not a positive number of seconds; use e.g. ${flag} 5,30,60`,
    );
  }
  return values;
}

function parsePositive(flag: string, raw: string | undefined, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `${flag} "${raw}" must be a positive ${integer ? 'whole number' : 'number of seconds'}`,
    );
  }
  return n;
}

export interface ProbeCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Cancels the run as Ctrl-C does (tests). */
  interrupt?: AbortSignal;
}

const defaultIo: ProbeCommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

export async function probeCommand(argv: string[], io: ProbeCommandIo = defaultIo): Promise<number> {
  try {
    return await probe(argv, io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr(`mcp-session-probe probe: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

async function probe(argv: string[], io: ProbeCommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      db: { type: 'string' },
      upstreams: { type: 'string' },
      connectors: { type: 'string' },
      intervals: { type: 'string' },
      quick: { type: 'boolean', default: false },
      mode: { type: 'string' },
      output: { type: 'string', short: 'o' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      'hold-stream': { type: 'boolean', default: false },
      keepalive: { type: 'string' },
      budget: { type: 'string' },
      'max-idle': { type: 'string' },
      demo: { type: 'boolean', default: false },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout(`${PROBE_USAGE}\n`);
    return 0;
  }
  const explicitMode = values.mode as ProbeMode | undefined;
  if (explicitMode !== undefined && !PROBE_MODES.includes(explicitMode)) {
    throw new UsageError(`--mode "${values.mode}" is not a mode; use ${PROBE_MODES.join(', ')}`);
  }
  if (values.quick && values.intervals) throw new UsageError('--quick and --intervals both set; choose one');
  if (explicitMode === 'search' && (values.intervals || values.quick)) {
    throw new UsageError(
      '--mode search finds its own idle gaps; drop --intervals/--quick, or use --mode fanout, ladder or bisect',
    );
  }
  let intervals = values.intervals
    ? parseSecondsList('--intervals', values.intervals)
    : values.quick
      ? [...QUICK_INTERVALS_SECONDS]
      : null;
  const timeoutSeconds = parsePositive('--timeout', values.timeout);
  const keepaliveSeconds = parsePositive('--keepalive', values.keepalive);
  const budget = parsePositive('--budget', values.budget, true);
  const maxIdleSeconds = parsePositive('--max-idle', values['max-idle']);

  const fileConfig = await loadConfig({ path: values.config });
  if (values.url !== undefined) {
    const adHoc = adHocUpstream(values.url, fileConfig);
    const base = applyCliOverrides(fileConfig ?? defaultConfig(), { db: values.db });
    const config: Config = {
      ...base,
      upstreams: [...base.upstreams.filter((u) => u.id !== adHoc.id), adHoc],
    };
    const adHocMode = chooseProbeMode(explicitMode, intervals ?? undefined);
    return await runAndReport(config, [adHoc], {
      mode: adHocMode,
      intervals: adHocMode === 'search' ? [] : (intervals ?? [...DEFAULT_INTERVALS_SECONDS]),
      maxIdleSeconds,
      timeoutSeconds,
      keepaliveSeconds,
      budget,
      holdStream: values['hold-stream'],
      output: values.output,
      json: values.json,
      io,
    });
  }
  if (fileConfig === null && !values.demo) {
    throw new UsageError(
      `nothing to probe: no config. Pass --config FILE (see examples/config.example.yaml), set ${CONFIG_PATH_ENV}, or try --demo`,
    );
  }
  let config: Config = applyCliOverrides(fileConfig ?? defaultConfig(), { db: values.db });
  let demo: { close(): Promise<void> } | null = null;
  if (values.demo) {
    const { startDemoUpstream } = await import('../demo/upstream.js');
    const d = await startDemoUpstream({ idleTimeoutMs: DEMO_IDLE_TIMEOUT_MS, sessionless: true });
    demo = d;
    const demoUpstream: UpstreamConfig = {
      id: PROBE_DEMO_UPSTREAM_ID,
      name: `Built-in probe demo (2025 sessions expire after ${DEMO_IDLE_TIMEOUT_MS / 1000} s idle; 2026 requests sessionless)`,
      url: d.url,
      transport: 'streamable-http',
      headers: {},
      timeoutSeconds: 60,
    };
    config = {
      ...config,
      upstreams: [...config.upstreams.filter((u) => u.id !== PROBE_DEMO_UPSTREAM_ID), demoUpstream],
    };
    // The demo's own gaps for the modes that need a list; search finds its 3 s alone.
    if (explicitMode !== undefined && explicitMode !== 'search') intervals ??= DEMO_INTERVALS;
  }
  const mode = chooseProbeMode(explicitMode, intervals ?? undefined);
  try {
    const wanted = values.upstreams ?? values.connectors;
    let selected = config.upstreams;
    if (wanted) {
      const ids = wanted
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = ids.filter((id) => !config.upstreams.some((u) => u.id === id));
      if (unknown.length) {
        throw new UsageError(
          `unknown upstream ${unknown.map((u) => `"${u}"`).join(', ')}; configured: ${config.upstreams.map((u) => u.id).join(', ')}`,
        );
      }
      selected = config.upstreams.filter((u) => ids.includes(u.id));
    }
    if (selected.length === 0) throw new UsageError('nothing to probe: no upstreams selected');
    return await runAndReport(config, selected, {
      mode,
      intervals: mode === 'search' ? [] : (intervals ?? [...DEFAULT_INTERVALS_SECONDS]),
      maxIdleSeconds,
      timeoutSeconds,
      keepaliveSeconds,
      budget,
      holdStream: values['hold-stream'],
      output: values.output,
      json: values.json,
      io,
    });
  } finally {
    await demo?.close();
  }
}

/**
 * The server named by `--url`: the configured upstream with that URL when there is one,
 * else an ad-hoc upstream named after its host (`https://mcp.linear.app/mcp` → `mcp-linear-app`).
 */
function adHocUpstream(raw: string, config: Config | null): UpstreamConfig & { loginCommand?: string } {
  let url: URL;
  try {
    url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`--url "${redactUrl(raw)}" must be an absolute http or https URL`);
  }
  const canonical = canonicalServerUrl(url.href);
  const configured = config?.upstreams.find((u) => canonicalServerUrl(u.url) === canonical);
  if (configured) return configured;
  const id =
    url.hostname
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 64) || 'url';
  return {
    id: /^[a-z0-9]/.test(id) ? id : `u${id}`.slice(0, 64),
    name: canonical,
    url: canonical,
    // An unknown server may still speak legacy HTTP+SSE (such as a `.../sse` URL): found out
    // with one initialize POST, and remembered in the store for the next run.
    transport: 'auto',
    headers: {},
    timeoutSeconds: 60,
    loginCommand: `mcp-session-probe login --url ${canonical}`,
  };
}

interface RunChoices {
  mode: ProbeMode;
  intervals: number[];
  timeoutSeconds: number | undefined;
  keepaliveSeconds: number | undefined;
  budget: number | undefined;
  maxIdleSeconds: number | undefined;
  holdStream: boolean;
  output: string | undefined;
  json: boolean;
  io: ProbeCommandIo;
}

async function runAndReport(config: Config, upstreams: UpstreamConfig[], c: RunChoices): Promise<number> {
  const { io } = c;
  const store = await openStoreForUpstreams(config.storage.url, config.upstreams);
  // Runs an earlier killed probe left `running` in a shared database: say they ended.
  await failInterruptedRuns(store, Date.now());
  const recorder = createRecorder({ store });
  // OTEL_* configure export exactly as for serve; with none set this only keeps local metrics.
  const telemetry = setupTelemetry({ upstreams });
  const plan =
    c.mode === 'search'
      ? `search up to ${c.maxIdleSeconds ?? DEFAULT_MAX_IDLE_SECONDS} s idle, at most ${c.budget ?? DEFAULT_SEARCH_BUDGET} sessions each`
      : `${c.mode}, idle ${c.intervals.join(',')} s`;
  const estimate = estimateProbeDuration({
    mode: c.mode,
    intervalsSeconds: c.intervals,
    budget: c.budget,
    keepaliveSeconds: c.keepaliveSeconds,
    maxIdleSeconds: c.maxIdleSeconds,
  });
  io.stderr(
    `probing ${upstreams.map((u) => u.id).join(', ')} (${plan}${c.holdStream ? ', holding a GET stream' : ''}), takes ${describeDuration(estimate)}\n`,
  );
  const pending: Array<{ upstream: string; at: number; idle: number }> = [];
  const run = startProbeRun({
    upstreams,
    mode: c.mode,
    intervalsSeconds: c.intervals,
    holdStream: c.holdStream,
    keepaliveSeconds: c.keepaliveSeconds ?? null,
    timeoutSeconds: c.timeoutSeconds ?? null,
    bisect: { budget: c.budget },
    maxIdleSeconds: c.maxIdleSeconds,
    passiveWindow: passiveWindowFrom(store),
    record: (obs) => {
      recorder.record(obs);
      telemetry.onObservation(obs);
    },
    store,
    telemetry,
    onEvent: (event) => {
      if (event.type === 'waiting')
        pending.push({ upstream: event.upstream, at: event.untilSeconds, idle: event.idleSecondsTarget });
      if (event.type === 'checkpoint') {
        const i = pending.findIndex(
          (p) => p.upstream === event.upstream && p.idle === event.checkpoint.idleSecondsTarget,
        );
        if (i >= 0) pending.splice(i, 1);
      }
      const line = progressLine(event);
      if (line) io.stderr(`${line}\n`);
    },
  });

  // Countdown: during long idle periods, say every 15 s how long until the next checkpoint.
  const startedAt = Date.now();
  const countdown = setInterval(() => {
    if (pending.length === 0) return;
    const t = (Date.now() - startedAt) / 1000;
    const next = pending.reduce((a, b) => (b.at < a.at ? b : a));
    io.stderr(
      `[t=+${Math.round(t)}s] next checkpoint in ${Math.max(0, Math.round(next.at - t))}s (upstream=${next.upstream} idle ${next.idle}s); ${pending.length} waiting\n`,
    );
  }, 15_000);
  countdown.unref();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    io.stderr('\ninterrupted: writing what was measured so far (Ctrl-C again to quit at once)\n');
    run.cancel();
  };
  process.on('SIGINT', onSigint);
  c.io.interrupt?.addEventListener('abort', onSigint, { once: true });

  let result: ProbeResult;
  try {
    result = await run.done;
  } finally {
    clearInterval(countdown);
    process.off('SIGINT', onSigint);
    await recorder.close();
    await telemetry.shutdown();
    await store.close();
  }

  const file = c.output ?? `mcp_session_probe_${result.startedAt.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  if (c.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const summary = result.mode === 'search' ? searchSummary(result) : intervalSummary(result);
    io.stdout(`${resultTable(result)}\n\n${summary.join('\n')}\n`);
    for (const r of result.results) for (const w of r.warnings) io.stdout(`! ${r.upstream}: ${w}\n`);
    for (const r of result.results) {
      const c = r.credential;
      if (!c || c.tokens.length === 0) continue;
      const lives = [...new Set(c.tokens.map((t) => t.expiresInSeconds))].map((s) =>
        s === null ? 'no expiry' : `${s}s`,
      );
      io.stdout(
        `~ ${r.upstream}: ${c.kind === 'oauth' ? 'OAuth login' : 'client credentials'}: ${c.tokens.length} token${c.tokens.length === 1 ? '' : 's'} (announced lifetime ${lives.join(', ')}), ${c.refreshes} refresh${c.refreshes === 1 ? '' : 'es'}\n`,
      );
    }
  }
  io.stderr(`results written to ${file}\n`);
  if (result.status === 'cancelled') return 130;
  // Nothing could be probed: say so in the exit code, as for a config that names nothing.
  if (result.results.length > 0 && result.results.every((r) => r.fatalError !== null)) {
    io.stderr('every upstream failed; see the errors above and in the result file\n');
    return 2;
  }
  return 0;
}
