// The I/O shell around the pure analysis: load one upstream's observations from
// the store, estimate, replay, recommend, and shape the JSON that docs/design.md names
// for GET /api/upstreams/:id/lifetime, GET /api/report and `report --json`.

import type { Config } from '../config/schema.js';
import type { ObservationStore, ProbeRunRow, StoredExchange, StoredUpstream } from '../store/types.js';
import {
  announcedTokens,
  type CredentialLifetime,
  credentialLifetime,
  withCredential,
} from './credential.js';
import { type EraJson, type EraReportFields, isSessionCall, summarizeEras, withEras } from './era.js';
import { type HealSummary, summarizeHeals } from './heal.js';
import {
  estimateLifetime,
  type LatencySummary,
  type LifetimeEstimate,
  type LifetimeWindow,
  summarizeLatency,
} from './lifetime.js';
import { classifyLosses, LOSS_CONTEXT_MS, type LossCause, lossKey } from './loss.js';
import { type KeepaliveEvidence, type Recommendation, recommendStrategy } from './recommend.js';
import { isAgentCall } from './replay.js';

/** The store keeps at most this many of the newest exchanges per query (ObservationStore contract). */
const MAX_ROWS = 10_000;

export interface ReportOptions {
  /** Only observations at or after this epoch-ms time; default: everything the store returns. */
  since?: number;
  now?: () => number;
}

export type AnalysisConfig = { analysis: Pick<Config['analysis'], 'turnGapSeconds'> };

const sec = (ms: number | null): number | null => (ms === null ? null : Math.round(ms) / 1000);

function latencyJson(l: LatencySummary) {
  return { p50: sec(l.p50Ms), p90: sec(l.p90Ms), n: l.n };
}

function windowJson(w: LifetimeWindow) {
  return {
    lowerBoundSeconds: sec(w.lowerMs),
    upperBoundSeconds: sec(w.upperMs),
    survivals: w.survivals,
    expirations: w.expirations,
    overlap: w.overlap,
    maxSurvivalSeconds: sec(w.maxSurvivalMs),
    minExpirySeconds: sec(w.minExpiryMs),
  };
}

/** docs/design.md `lifetime` shape (plus the stream-attached split, both explanations and counts by source). */
export function lifetimeJson(e: LifetimeEstimate) {
  return {
    lowerBoundSeconds: sec(e.lowerMs),
    upperBoundSeconds: sec(e.upperMs),
    basis: e.basis,
    survivals: e.survivals,
    expirations: e.expirations,
    validatesSessionIds: e.validatesSessionIds,
    stateless: e.stateless,
    initLatencySeconds: latencyJson(e.initLatency),
    sessionOpenSeconds: latencyJson(e.sessionOpen),
    withStream: windowJson(e.withStream),
    windows: { idle: windowJson(e.idle), age: windowJson(e.age) },
    observations: e.observations,
    losses: e.losses,
  };
}
export type LifetimeJson = ReturnType<typeof lifetimeJson>;

/** docs/design.md `recommendation` shape, seconds throughout. */
export function recommendationJson(r: Recommendation) {
  return {
    strategy: r.strategy,
    poolIdleTtlSeconds: sec(r.poolIdleTtlMs),
    poolMaxAgeSeconds: sec(r.poolMaxAgeMs),
    keepaliveIntervalSeconds: sec(r.keepaliveIntervalMs),
    initCostSeconds: sec(r.initCostMs),
    expectedInitSecondsPer100Calls: r.expectedInitSecondsPer100Calls,
    expectedStaleFailuresPer100Calls: r.expectedStaleFailuresPer100Calls,
    strategies: r.strategies.map((o) => ({
      strategy: o.strategy,
      idleTtlSeconds: sec(o.idleTtlMs),
      keepaliveIntervalSeconds: sec(o.keepaliveIntervalMs),
      calls: o.calls,
      sessions: o.sessions,
      riskyReuses: o.riskyReuses,
      unknownReuses: o.unknownReuses,
      expectedInitSecondsPer100Calls: o.expectedInitSecondsPer100Calls,
      expectedStaleFailuresPer100Calls: o.expectedStaleFailuresPer100Calls,
    })),
    workload: r.workload,
    evidence: r.evidence,
    nextProbeGapsSeconds: r.nextProbeGapsMs.map((ms) => sec(ms)!),
    reason: r.reason,
  };
}
export type RecommendationJson = ReturnType<typeof recommendationJson>;

/** The report's `heal` block: expiries heal mode absorbed, and what opening replacements cost. */
function healJson(h: HealSummary) {
  return { absorbed: h.absorbed, latencySeconds: latencyJson(h.latency), totalSeconds: sec(h.totalMs) ?? 0 };
}

/** The probe result fields this module reads; anything else in the stored JSON is ignored. */
interface StoredProbeUpstreamResult {
  upstream?: unknown;
  validatesSessionIds?: unknown;
  keepalive?: { keptAlive?: unknown } | null;
  window?: { overlapping?: unknown } | null;
  /** initialize + initialized + one tools/list on a fresh session: what a call costs on a stateless upstream. */
  perCallCostSeconds?: unknown;
}

function probeResultsFor(run: ProbeRunRow, upstream: string): StoredProbeUpstreamResult[] {
  const results = (run.result as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return [];
  return results.filter(
    (r): r is StoredProbeUpstreamResult =>
      typeof r === 'object' && r !== null && (r as { upstream?: unknown }).upstream === upstream,
  );
}

/** The newest probe evidence: does the upstream validate ids, do pings keep sessions alive. */
export function probeEvidence(runs: readonly ProbeRunRow[], upstream: string) {
  let validatesSessionIds: boolean | null = null;
  let keepalive: KeepaliveEvidence | null = null;
  let perCallCostMs: number | null = null;
  let sweepingSeen: boolean | null = null;
  const newestFirst = [...runs].sort((a, b) => b.startedAt - a.startedAt);
  for (const run of newestFirst) {
    for (const r of probeResultsFor(run, upstream)) {
      if (validatesSessionIds === null && typeof r.validatesSessionIds === 'boolean') {
        validatesSessionIds = r.validatesSessionIds;
      }
      if (keepalive === null && r.keepalive && typeof r.keepalive.keptAlive === 'boolean') {
        keepalive = { keepsAlive: r.keepalive.keptAlive };
      }
      if (sweepingSeen === null && r.window && typeof r.window.overlapping === 'boolean') {
        sweepingSeen = r.window.overlapping;
      }
      if (perCallCostMs === null && typeof r.perCallCostSeconds === 'number') {
        perCallCostMs = Math.round(r.perCallCostSeconds * 1000);
      }
    }
  }
  const last = newestFirst[0];
  return {
    validatesSessionIds,
    keepalive,
    perCallCostMs,
    sweepingSeen: sweepingSeen === true,
    lastProbe: last
      ? {
          id: last.id,
          status: last.status,
          startedAt: new Date(last.startedAt).toISOString(),
          mode: last.mode,
        }
      : null,
  };
}

export interface UpstreamReport extends EraReportFields {
  id: string;
  name: string;
  url: string;
  transport: string;
  lifetime: LifetimeJson & EraJson & { credential: CredentialLifetime };
  recommendation: RecommendationJson;
  /** Heal mode: the expiries it absorbed and what they cost. */
  heal: ReturnType<typeof healJson>;
  lastProbe: { id: string; status: string; startedAt: string; mode: string } | null;
}

async function reportFor(
  store: ObservationStore,
  upstream: StoredUpstream,
  config: AnalysisConfig,
  opts: ReportOptions,
): Promise<UpstreamReport> {
  const q = { upstream: upstream.id, limit: MAX_ROWS, since: opts.since };
  const [exchanges, sessions, runs] = await Promise.all([
    store.listExchanges(q),
    store.listSessions(q),
    store.listProbeRuns({ upstream: upstream.id, limit: 100 }),
  ]);
  const evidence = probeEvidence(runs, upstream.id);
  const lifetime = estimateLifetime(exchanges, sessions, {
    stateless: upstream.stateless,
    validatesSessionIds: upstream.validatesSessionIds ?? evidence.validatesSessionIds,
    sweepingSeen: evidence.sweepingSeen,
  });
  const calls = exchanges.filter((e) => isAgentCall(e) && isSessionCall(e));
  const observedCallLatency = summarizeLatency(
    calls
      .filter((c) => c.outcome === 'ok')
      .map((c) => (c.responseAt ?? c.endedAt ?? c.startedAt) - c.startedAt),
  );
  // Without agent traffic, the probe's fresh-session call is the best known cost of a call.
  const callLatency =
    observedCallLatency.n === 0 && evidence.perCallCostMs !== null
      ? { p50Ms: evidence.perCallCostMs, p90Ms: evidence.perCallCostMs, n: 1 }
      : observedCallLatency;
  const recommendation = recommendStrategy(lifetime, calls, {
    turnGapMs: config.analysis.turnGapSeconds * 1000,
    keepalive: evidence.keepalive,
    callLatency,
    lastProbe: evidence.lastProbe,
  });
  const entry = {
    id: upstream.id,
    name: upstream.name,
    url: upstream.url,
    transport: upstream.transport,
    lifetime: lifetimeJson(lifetime),
    recommendation: recommendationJson(recommendation),
    heal: healJson(summarizeHeals(exchanges)),
    lastProbe: evidence.lastProbe,
  };
  const credential = credentialLifetime(
    (await store.listCredentials?.(upstream.id).catch(() => [])) ?? [],
    announcedTokens(runs, upstream.id),
  );
  return withCredential(
    withEras(entry, summarizeEras(exchanges, sessions, { stateless: upstream.stateless })),
    credential,
  );
}

/** One upstream's report, or null when the store does not know the upstream. */
export async function buildUpstreamReport(
  store: ObservationStore,
  upstreamId: string,
  config: AnalysisConfig,
  opts: ReportOptions = {},
): Promise<UpstreamReport | null> {
  const upstream = (await store.listUpstreams()).find((u) => u.id === upstreamId);
  return upstream ? reportFor(store, upstream, config, opts) : null;
}

export interface Report {
  generatedAt: string;
  upstreams: UpstreamReport[];
}

/** Every upstream the store knows, in its order (GET /api/report). */
export async function buildReport(
  store: ObservationStore,
  config: AnalysisConfig,
  opts: ReportOptions = {},
): Promise<Report> {
  const now = opts.now ?? Date.now;
  const upstreams = await store.listUpstreams();
  const reports: UpstreamReport[] = [];
  for (const u of upstreams) reports.push(await reportFor(store, u, config, opts));
  return { generatedAt: new Date(now()).toISOString(), upstreams: reports };
}

/**
 * Which of these session errors were losses rather than idle expiry, read from the exchanges
 * around them (each upstream's rows up to a day before its oldest error).
 */
export async function lossCauses(
  store: Pick<ObservationStore, 'listExchanges'>,
  rows: readonly StoredExchange[],
): Promise<Map<string, LossCause>> {
  const out = new Map<string, LossCause>();
  const oldest = new Map<string, number>();
  for (const r of rows) oldest.set(r.upstream, Math.min(oldest.get(r.upstream) ?? r.startedAt, r.startedAt));
  for (const [upstream, since] of oldest) {
    const context = await store.listExchanges({ upstream, limit: MAX_ROWS, since: since - LOSS_CONTEXT_MS });
    for (const [e, cause] of classifyLosses(context)) out.set(lossKey(e), cause);
  }
  return out;
}
