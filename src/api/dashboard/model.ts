// What the dashboard shows, read from the store: one I/O shell (loadDashboard /
// loadUpstreamDetail) over pure shaping functions that tests can drive with records.

import { windowOf } from '../../analysis/lifetime.js';
import { type LossCause, lossKey } from '../../analysis/loss.js';
import { lossCauses } from '../../analysis/report.js';
import type {
  ObservationStore,
  ProbeRunRow,
  StoredExchange,
  StoredSession,
  StoredUpstream,
} from '../../store/types.js';
import { percentile } from './scales.js';

/** One request on a known session after an idle gap: it either found the session alive or expired. */
export interface GapPoint {
  gapSeconds: number;
  expired: boolean;
  streamAttached: boolean;
  source: 'proxy' | 'probe';
  at: number;
}

/** docs/contract.md `/api/upstreams/:id/lifetime` fields the dashboard reads (analysis adds more). */
export interface LifetimeView {
  lowerBoundSeconds: number | null;
  upperBoundSeconds: number | null;
  basis: string;
  survivals: number;
  expirations: number;
  validatesSessionIds: boolean | null;
  initLatencySeconds: { p50: number | null; p90: number | null; n: number };
  stateless?: boolean;
  /** Idle-gap window of requests made while a GET stream was attached. */
  withStream?: { lowerBoundSeconds: number | null; upperBoundSeconds: number | null };
  /** Both explanations; `idle` is what the idle-gap chart shades even when the basis is `age`. */
  windows?: { idle: { lowerBoundSeconds: number | null; upperBoundSeconds: number | null } };
  observations?: { proxy: number; probe: number };
  /** How long a credential lives (src/analysis/credential.ts), kept apart from session expiry. */
  credential?: {
    lowerBoundSeconds: number | null;
    upperBoundSeconds: number | null;
    observations: number;
    announcedSeconds: number | null;
  };
  /** DESIGN.md "Two eras" (src/analysis/era.ts): `sessions`, `sessionless`, `both` or `unknown`. */
  sessionModel?: string;
  protocolVersions?: { answered: string[]; asked: string[] };
  sessionless?: { callLatencySeconds: { p50: number | null; n: number } };
  listen?: {
    streams: number;
    endedBy: { client: number; server: number; error: number };
    openSeconds: { max: number | null };
  };
}

/** The report's per-era answers and migration view (docs/eras.md). */
export interface EraView {
  eras?: Record<string, { recommendation: RecommendationView }> | undefined;
  migration?:
    | Array<{
        callerHash: string | null;
        era: string | null;
        protocolVersion: string | null;
        exchanges: number;
        lastSeenAt: string;
      }>
    | undefined;
}

/** docs/contract.md `/api/report` recommendation fields the dashboard reads. */
export interface RecommendationView {
  strategy: string;
  poolIdleTtlSeconds: number | null;
  keepaliveIntervalSeconds: number | null;
  reason: string;
  expectedInitSecondsPer100Calls?: Partial<Record<string, number | null>> | null;
  /** Per strategy replayed (src/analysis): what each would have cost on the real traffic. */
  strategies?: Array<{
    strategy: string;
    idleTtlSeconds: number | null;
    keepaliveIntervalSeconds: number | null;
    calls: number;
    sessions: number;
    expectedInitSecondsPer100Calls: number;
    expectedStaleFailuresPer100Calls: number | null;
  }>;
}

/** Where the lifetime and recommendation come from: src/analysis when wired, else the fallback here. */
export interface AnalysisSource {
  upstream(
    id: string,
  ): Promise<({ lifetime: LifetimeView; recommendation: RecommendationView | null } & EraView) | null>;
}

export interface UpstreamSummary {
  upstream: StoredUpstream;
  lifetime: LifetimeView;
  recommendation: RecommendationView | null;
  lastProbe: ProbeRunRow | null;
  /** Sessions that expired in the last 24 h (not 404s: a dead session answers every later request so). */
  expirationsLast24h: number;
  /** Of those, the ones heal mode answered from a replacement session. */
  healedLast24h: number;
  era: EraView;
}

export interface UpstreamDetail extends UpstreamSummary {
  points: GapPoint[];
  initLatenciesSeconds: number[];
  sessions: StoredSession[];
  /** With the analysis's verdict: `cause` set for a session lost, not expired. */
  expirations: Array<StoredExchange & { cause: LossCause | null }>;
  probeRuns: ProbeRunRow[];
  now: number;
}

const SURVIVAL_OUTCOMES = new Set(['ok', 'rpc_error']);
const DAY_MS = 86_400_000;
const MAX_EXCHANGES = 10_000;

/** Requests on a session after a known idle gap; outcomes that say nothing about the session are left out. */
export function gapPoints(exchanges: readonly StoredExchange[]): GapPoint[] {
  const points: GapPoint[] = [];
  for (const e of exchanges) {
    if (e.sessionHash === null || e.idleGapMs === null) continue;
    const expired = e.outcome === 'session_expired';
    if (!expired && !SURVIVAL_OUTCOMES.has(e.outcome)) continue;
    points.push({
      gapSeconds: e.idleGapMs / 1000,
      expired,
      streamAttached: e.streamAttached,
      source: e.source,
      at: e.startedAt,
    });
  }
  return points;
}

/** docs/design.md window over one set of points (the same rule as the lifetime estimate: `windowOf`). */
export function idleWindow(points: readonly GapPoint[]): {
  lowerBoundSeconds: number | null;
  upperBoundSeconds: number | null;
} {
  const w = windowOf(points.map((p) => [p.gapSeconds, p.expired] as const));
  return { lowerBoundSeconds: w.lowerMs, upperBoundSeconds: w.upperMs };
}

/**
 * A stand-in used only when no analysis source answers: the idle window alone, without
 * the age explanation or the probe's evidence (src/analysis has those).
 */
export function fallbackLifetime(
  points: readonly GapPoint[],
  initLatenciesSeconds: readonly number[],
  validatesSessionIds: boolean | null,
): LifetimeView {
  const noStream = points.filter((p) => !p.streamAttached);
  const window = idleWindow(noStream);
  const expirations = noStream.filter((p) => p.expired).length;
  return {
    ...window,
    basis: expirations === 0 ? 'none_observed' : window.upperBoundSeconds === null ? 'inconsistent' : 'idle',
    survivals: noStream.length - expirations,
    expirations,
    validatesSessionIds,
    initLatencySeconds: {
      p50: percentile(initLatenciesSeconds, 50),
      p90: percentile(initLatenciesSeconds, 90),
      n: initLatenciesSeconds.length,
    },
    withStream: idleWindow(points.filter((p) => p.streamAttached)),
  };
}

export function initLatencies(sessions: readonly StoredSession[]): number[] {
  return sessions.flatMap((s) => (s.initLatencyMs === null ? [] : [s.initLatencyMs / 1000]));
}

function runsFor(runs: readonly ProbeRunRow[], upstream: string): ProbeRunRow[] {
  return runs.filter((r) => r.upstreams.includes(upstream));
}

export interface LoadOptions {
  store: ObservationStore;
  analysis?: AnalysisSource | undefined;
  now?: () => number;
}

interface Observed {
  points: GapPoint[];
  initLatenciesSeconds: number[];
}

async function observed(
  store: ObservationStore,
  upstream: string,
): Promise<Observed & { sessions: StoredSession[] }> {
  const [sessions, exchanges] = await Promise.all([
    store.listSessions({ upstream, limit: 1000 }),
    store.listExchanges({ upstream, limit: MAX_EXCHANGES }),
  ]);
  return { sessions, points: gapPoints(exchanges), initLatenciesSeconds: initLatencies(sessions) };
}

/** `data` is read only when the analysis has no answer (the overview then skips the raw rows). */
async function summarize(
  { store, analysis }: LoadOptions,
  upstream: StoredUpstream,
  runs: ProbeRunRow[],
  now: number,
  data: () => Promise<Observed>,
): Promise<UpstreamSummary> {
  const [analysed, recent] = await Promise.all([
    analysis?.upstream(upstream.id).catch(() => null),
    store.listExpirations({ upstream: upstream.id, since: now - DAY_MS, limit: MAX_EXCHANGES }),
  ]);
  let lifetime = analysed?.lifetime;
  if (!lifetime) {
    const { points, initLatenciesSeconds } = await data();
    lifetime = fallbackLifetime(points, initLatenciesSeconds, upstream.validatesSessionIds);
  }
  return {
    upstream,
    lifetime,
    recommendation: analysed?.recommendation ?? null,
    lastProbe: runs[0] ?? null,
    // A session expires once; later requests on the dead session repeat the same 404.
    expirationsLast24h: new Set(recent.map((e) => e.sessionHash ?? `row-${e.id}`)).size,
    healedLast24h: recent.filter((e) => e.healed).length,
    era: { eras: analysed?.eras, migration: analysed?.migration },
  };
}

/** Everything the overview page needs, one row per configured upstream. */
export async function loadOverview(options: LoadOptions): Promise<UpstreamSummary[]> {
  const { store } = options;
  const now = (options.now ?? Date.now)();
  const [upstreams, runs] = await Promise.all([store.listUpstreams(), store.listProbeRuns({ limit: 200 })]);
  return Promise.all(
    upstreams.map((u) => summarize(options, u, runsFor(runs, u.id), now, () => observed(store, u.id))),
  );
}

/** One upstream's page, or null when no such upstream is configured. */
export async function loadUpstreamDetail(options: LoadOptions, id: string): Promise<UpstreamDetail | null> {
  const { store } = options;
  const now = (options.now ?? Date.now)();
  const upstream = (await store.listUpstreams()).find((u) => u.id === id);
  if (!upstream) return null;
  const [data, expirations, runs] = await Promise.all([
    observed(store, id),
    store.listExpirations({ upstream: id, limit: 50 }),
    store.listProbeRuns({ upstream: id, limit: 20 }),
  ]);
  const upstreamRuns = runsFor(runs, id);
  const summary = await summarize(options, upstream, upstreamRuns, now, async () => data);
  const causes = await lossCauses(store, expirations);
  const judged = expirations.map((e) => ({ ...e, cause: causes.get(lossKey(e)) ?? null }));
  return { ...summary, ...data, expirations: judged, probeRuns: upstreamRuns, now };
}
