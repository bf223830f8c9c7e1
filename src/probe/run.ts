// One probe run over one or more upstreams, all probed concurrently. Every probe
// exchange is recorded through a SessionTracker (source "probe") into the recorder,
// and the run itself (result JSON) is saved to the store as it progresses.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Agent } from 'undici';
import type { RequestAuthorizer } from '../auth/authorizer.js';
import { type AuthTarget, authorizerFor } from '../auth/forUpstream.js';
import { AuthRequiredError } from '../auth/provider.js';
import { probeHome, TokenStore } from '../auth/tokenStore.js';
import type { ProbeMode, UpstreamConfig } from '../config/schema.js';
import { SessionTracker } from '../sessions/tracker.js';
import type { Observation } from '../sessions/types.js';
import type { ObservationStore } from '../store/types.js';
import type { Telemetry } from '../telemetry/setup.js';
import type { ProbeRunSpan } from '../telemetry/spans.js';
import {
  chooseProbeMode,
  DEFAULT_BISECT_BUDGET,
  DEFAULT_BISECT_PARALLEL,
  DEFAULT_INTERVALS_SECONDS,
  DEFAULT_MAX_IDLE_SECONDS,
  DEFAULT_MIN_WINDOW_SECONDS,
  DEFAULT_MODE_WITH_INTERVALS,
  DEFAULT_SEARCH_BUDGET,
} from './defaults.js';
import { resolveTransport, TransportDetectionError } from './detectTransport.js';
import type { LegacySseProbeWire } from './legacySseWire.js';
import {
  emptyUpstreamResult,
  type ProbeEvent,
  type ProbeResult,
  type ProbeStatus,
  STREAM_LIFETIME_NOTE,
} from './result.js';
import type { SearchHint } from './searchHint.js';
import { type BisectOptions, probeUpstream } from './upstreamProbe.js';
import { ProbeCancelled, ProbeWire } from './wire.js';

// Every default (modes, gaps, budgets) lives in defaults.ts, shared by the CLI, the API and the form.
export { chooseProbeMode, DEFAULT_INTERVALS_SECONDS, QUICK_INTERVALS_SECONDS } from './defaults.js';
/** With intervals and no mode, the gaps are tested as a fanout. */
export const DEFAULT_MODE: ProbeMode = DEFAULT_MODE_WITH_INTERVALS;

export type ProbeTarget = Pick<UpstreamConfig, 'id' | 'url' | 'headers' | 'timeoutSeconds'> & {
  /** `streamable-http` when absent; `auto` is detected (and remembered in the store). */
  transport?: UpstreamConfig['transport'];
} & Pick<AuthTarget, 'auth' | 'loginCommand'>;

export interface ProbeRunOptions {
  upstreams: readonly ProbeTarget[];
  mode?: ProbeMode;
  intervalsSeconds?: readonly number[];
  holdStream?: boolean;
  keepaliveSeconds?: number | null;
  /** Per-call timeout; each upstream's `timeoutSeconds` when absent. */
  timeoutSeconds?: number | null;
  bisect?: Partial<BisectOptions>;
  /** `search`: the largest idle gap tested (default 3600 s); its session budget is `bisect.budget` (default 32). */
  maxIdleSeconds?: number;
  /** `search`: the current window of an upstream, where the search starts (see searchHint.ts). */
  passiveWindow?: ((upstream: string) => Promise<SearchHint | null>) | null;
  /** Where observations go (the recorder's `record`). */
  record: (obs: Observation) => void;
  /** Saves the run and the `validatesSessionIds` flags; optional (tests, dry runs). */
  store?: Pick<ObservationStore, 'saveProbeRun' | 'setUpstreamFlags'> | null;
  onEvent?: (event: ProbeEvent) => void;
  /** Spans: a root `mcpprobe.probe {upstream}` per upstream, its exchanges and checkpoints as children. */
  telemetry?: Pick<Telemetry, 'probeRun' | 'onExchange'> | null;
  id?: string;
  now?: () => number;
  /** How often a waiting run touches its stored row (default PROBE_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Stored OAuth logins (default: under `$MCP_PROBE_HOME`). */
  tokenStore?: TokenStore;
}

/**
 * A running probe saves its row at every checkpoint and, while it waits out an idle gap
 * (minutes, often), touches it this often, so that another process can tell a run whose
 * process died from one that is waiting.
 */
export const PROBE_HEARTBEAT_MS = 15_000;
/** A `running` row silent for this long belongs to a process that is gone (4 missed heartbeats). */
export const PROBE_STALE_AFTER_MS = 4 * PROBE_HEARTBEAT_MS;

export interface ProbeRun {
  readonly id: string;
  /** The live result: filled in as the run goes. */
  readonly result: ProbeResult;
  readonly done: Promise<ProbeResult>;
  cancel(): void;
}

export function startProbeRun(opts: ProbeRunOptions): ProbeRun {
  const now = opts.now ?? Date.now;
  const id = opts.id ?? randomUUID();
  const mode = chooseProbeMode(opts.mode, opts.intervalsSeconds);
  const intervals = mode === 'search' ? [] : [...(opts.intervalsSeconds ?? DEFAULT_INTERVALS_SECONDS)];
  const holdStream = opts.holdStream ?? false;
  const maxIdleSeconds = opts.maxIdleSeconds ?? DEFAULT_MAX_IDLE_SECONDS;
  const bisect: BisectOptions = {
    budget: opts.bisect?.budget ?? (mode === 'search' ? DEFAULT_SEARCH_BUDGET : DEFAULT_BISECT_BUDGET),
    minWindowSeconds: opts.bisect?.minWindowSeconds ?? DEFAULT_MIN_WINDOW_SECONDS,
    parallel: opts.bisect?.parallel ?? DEFAULT_BISECT_PARALLEL,
  };
  const startedMs = now();
  const result: ProbeResult = {
    id,
    status: 'running',
    startedAt: new Date(startedMs).toISOString(),
    elapsedSeconds: 0,
    mode,
    intervals,
    options: {
      holdStream,
      keepaliveSeconds: opts.keepaliveSeconds ?? null,
      timeoutSeconds: opts.timeoutSeconds ?? null,
      budget: bisect.budget,
      minWindowSeconds: bisect.minWindowSeconds,
      ...(mode === 'search' ? { maxIdleSeconds } : {}),
    },
    results: opts.upstreams.map((u) => emptyUpstreamResult(u.id, holdStream)),
    fatalError: null,
  };
  const clock = () => Math.round(now() - startedMs) / 1000;
  const abort = new AbortController();
  // Every in-flight probe request listens for cancellation: many at once is expected.
  setMaxListeners(0, abort.signal);
  const tracker = new SessionTracker({
    source: 'probe',
    onObservation: opts.record,
    onExchange: opts.telemetry?.onExchange,
    now,
  });
  // Probe sessions hold their own connections; a GET stream must not block a POST.
  const dispatcher = new Agent({ connections: null, pipelining: 1 });
  const store = opts.store ?? null;
  const tokenStore = opts.tokenStore ?? new TokenStore(probeHome());

  let saving: Promise<void> = Promise.resolve();
  const save = (finishedAt: number | null) => {
    if (!store) return saving;
    result.elapsedSeconds = clock();
    const row = {
      id,
      status: result.status,
      mode,
      upstreams: opts.upstreams.map((u) => u.id),
      startedAt: startedMs,
      finishedAt,
      heartbeatAt: now(),
      result: structuredClone(result),
    };
    saving = saving.then(() => store.saveProbeRun(row)).catch(() => {});
    return saving;
  };
  // Checkpoints are saved as they come (bounded: at most one write per 250 ms).
  let saveTimer: NodeJS.Timeout | null = null;
  const runSpans = new Map<string, ProbeRunSpan>();
  /** Runs one upstream's probe inside its root span. */
  const traced = async (upstream: string, i: number, probe: () => Promise<void>): Promise<void> => {
    const span = opts.telemetry?.probeRun({ upstream, mode, runId: id, startedAt: now() });
    if (!span) return probe();
    runSpans.set(upstream, span);
    let errorType: string | null = null;
    try {
      await probe();
    } catch (err) {
      errorType = err instanceof ProbeCancelled ? 'cancelled' : 'probe_failed';
      throw err;
    } finally {
      const fatal = result.results[i]!.fatalError;
      span.end({
        endedAt: now(),
        errorType: errorType ?? (fatal ? 'probe_failed' : null),
        errorMessage: fatal,
      });
    }
  };
  const emit = (event: ProbeEvent) => {
    result.elapsedSeconds = clock();
    if (event.type === 'checkpoint') {
      const c = event.checkpoint;
      const end = now();
      runSpans.get(event.upstream)?.step({
        name: `checkpoint ${c.idleSecondsTarget}s`,
        startedAt: end - (c.latencySeconds ?? 0) * 1000,
        endedAt: end,
        idleTargetSeconds: c.idleSecondsTarget,
        errorType: c.errorType,
        errorMessage: c.errorMessage,
      });
    }
    try {
      opts.onEvent?.(event);
    } catch {
      // A listener must not break the probe.
    }
    if (store && saveTimer === null && event.type !== 'waiting') {
      saveTimer = setTimeout(() => {
        saveTimer = null;
        void save(null);
      }, 250);
      saveTimer.unref();
    }
  };

  const heartbeat = store
    ? setInterval(() => {
        // Once the run has ended, its final save says so; the interval goes when `done` settles.
        if (result.status === 'running') void save(null);
      }, opts.heartbeatMs ?? PROBE_HEARTBEAT_MS)
    : null;
  heartbeat?.unref();

  const done = (async (): Promise<ProbeResult> => {
    await save(null);
    const outcomes = await Promise.allSettled(
      opts.upstreams.map((u, i) =>
        traced(u.id, i, async () => {
          let auth: RequestAuthorizer | null = null;
          let credentialHeaders: Record<string, string> = {};
          try {
            auth = await authorizerFor(u, tokenStore, now);
            // A first token now: a missing or dead login ends this upstream's probe before it starts.
            if (auth) credentialHeaders = await auth.headers();
          } catch (err) {
            result.results[i]!.credential = auth?.report() ?? null;
            if (!(err instanceof AuthRequiredError)) throw err;
            result.results[i]!.fatalError = err.message;
            emit({
              type: 'upstream-done',
              t: clock(),
              upstream: u.id,
              fatalError: err.message,
              warnings: [],
            });
            return;
          }
          const wireOptions = {
            upstream: u.id,
            url: u.url,
            headers: u.headers,
            auth,
            loginCommand: u.loginCommand ?? `mcp-session-probe login ${u.id}`,
            timeoutMs: (opts.timeoutSeconds ?? u.timeoutSeconds) * 1000,
            tracker,
            probeRunId: id,
            holdStream,
            dispatcher,
            signal: abort.signal,
          };
          const detect = async (credential: Record<string, string>) =>
            (
              await resolveTransport(
                {
                  ...u,
                  headers: { ...u.headers, ...credential },
                  transport: u.transport ?? 'streamable-http',
                },
                store,
                { timeoutMs: wireOptions.timeoutMs, dispatcher, signal: abort.signal },
              )
            ).transport;
          let transport: 'streamable-http' | 'sse';
          try {
            try {
              transport = await detect(credentialHeaders);
            } catch (err) {
              // A stored login's token refused (revoked before it expired): refreshed once, as
              // the wire does for `initialize`, so the transport is still found.
              if (!(auth && err instanceof TransportDetectionError && err.refusedStatus === 401)) throw err;
              auth.rejected();
              transport = await detect(await auth.headers());
            }
          } catch (err) {
            if (abort.signal.aborted) throw new ProbeCancelled();
            // A refused initialize (401/403) says nothing about the transport. The probe's own
            // initialize meets the same refusal and answers it with what to do (a refresh and
            // one more try, auth_required and the login command, the scope missing).
            if (!(err instanceof TransportDetectionError) || err.refusedStatus === null) {
              result.results[i]!.fatalError = (err as Error).message;
              result.results[i]!.credential = auth?.report() ?? null;
              return;
            }
            transport = 'streamable-http';
          }
          // The legacy wire brings the SDK's SSE client (and its protocol schemas): loaded only
          // when an upstream actually speaks HTTP+SSE, so a serve process that never probes one
          // does not carry it.
          let legacy: LegacySseProbeWire | null = null;
          if (transport === 'sse') {
            const { LegacySseProbeWire } = await import('./legacySseWire.js');
            legacy = new LegacySseProbeWire(wireOptions);
            result.results[i]!.warnings.push(STREAM_LIFETIME_NOTE);
          }
          const wire = legacy ?? new ProbeWire(wireOptions);
          const hint =
            mode === 'search' ? ((await opts.passiveWindow?.(u.id).catch(() => null)) ?? null) : null;
          try {
            await probeUpstream({
              wire,
              result: result.results[i]!,
              mode,
              intervalsSeconds: intervals,
              keepaliveSeconds: opts.keepaliveSeconds ?? null,
              bisect,
              search: { budget: bisect.budget, maxIdleSeconds, hint },
              signal: abort.signal,
              clock,
              emit,
            });
          } finally {
            await legacy?.closeAll();
            result.results[i]!.credential = auth?.report() ?? null;
          }
        }),
      ),
    );
    let status: ProbeStatus = 'done';
    if (abort.signal.aborted) status = 'cancelled';
    else {
      const failure = outcomes.find((o) => o.status === 'rejected' && !(o.reason instanceof ProbeCancelled));
      if (failure) {
        status = 'failed';
        result.fatalError = `probe run failed: ${(failure as PromiseRejectedResult).reason}`;
      }
    }
    if (store) {
      for (const r of result.results) {
        if (r.validatesSessionIds !== null)
          await store
            .setUpstreamFlags(r.upstream, { validatesSessionIds: r.validatesSessionIds })
            .catch(() => {});
      }
    }
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = null;
    result.status = status;
    result.elapsedSeconds = clock();
    await save(now());
    await dispatcher.close().catch(() => {});
    const final: ProbeEvent = { type: 'run-done', t: result.elapsedSeconds, status };
    try {
      opts.onEvent?.(final);
    } catch {}
    return result;
  })().finally(() => {
    if (heartbeat) clearInterval(heartbeat);
  });

  return { id, result, done, cancel: () => abort.abort() };
}
