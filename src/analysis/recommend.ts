// Turns a lifetime estimate and a replay into one recommendation with a reason.
import { type EvidenceKind, type WorkloadEvidence, workloadEvidence } from './evidence.js';
import type { LatencySummary, LifetimeEstimate, LifetimeWindow } from './lifetime.js';
import { nextGapsToProbe, probeAdvice } from './nextGaps.js';
import { type ReplayCall, replayStrategies, type StrategyName, type StrategyOutcome } from './replay.js';

/**
 * A pool retires sessions at half the window's lower bound. Many servers sweep expired
 * sessions periodically: with timeout T and sweep period P a session idle anywhere in
 * (T, T + P] may or may not be gone, so a survival at L proves only T + P > L. For a
 * sweeper that runs at least as often as its timeout (P <= T) that means T > L / 2,
 * and the probe cannot tell a sweeper from a clean timeout without many samples.
 */
export const POOL_SAFETY_MARGIN = 0.5;
/**
 * A survival over less than this is never the basis of a pool TTL: the milliseconds between
 * `initialize` and the first call say nothing about how long a session is kept.
 */
export const MIN_TTL_EVIDENCE_MS = 1000;
/** Hosted MCP servers commonly take about a second to open a session (docs/design.md). */
export const DEFAULT_INIT_COST_MS = 1000;

export interface KeepaliveEvidence {
  /** True when the probe showed that pings keep an otherwise idle session alive. */
  keepsAlive: boolean;
}

export interface RecommendOptions {
  turnGapMs: number;
  keepalive?: KeepaliveEvidence | null;
  /** Latency of an ordinary call (stateless upstreams: the whole cost of a call). */
  callLatency?: LatencySummary | null;
  /** The newest probe run of the upstream, if any: the advice never says "run a probe" right after one. */
  lastProbe?: { startedAt: string; status: string } | null;
}

/** Which lifetime evidence the answer used (held GET stream or not), and for how many callers. */
export interface EvidenceUsed {
  used: EvidenceKind[];
  callers: number;
  callersHoldingStream: number;
  description: string;
}

export interface Workload {
  source: 'observed' | 'default';
  calls: number;
  callers: number;
  description: string;
}

export interface Recommendation {
  strategy: StrategyName;
  /** Pool only: retire a session before it sits idle this long. */
  poolIdleTtlMs: number | null;
  /** Pool on an upstream with an absolute lifetime: retire sessions before this age. */
  poolMaxAgeMs: number | null;
  /** Only when the probe showed pings keep sessions alive and the pool uses them. */
  keepaliveIntervalMs: number | null;
  initCostMs: number;
  expectedInitSecondsPer100Calls: Partial<Record<StrategyName, number>>;
  expectedStaleFailuresPer100Calls: Partial<Record<StrategyName, number | null>>;
  strategies: StrategyOutcome[];
  workload: Workload;
  evidence: EvidenceUsed;
  /** Idle gaps worth probing next (ms), when the answer stops at what was observed. */
  nextProbeGapsMs: number[];
  reason: string;
}

/** 5 turns of 4 calls 10 s apart, turns 15 min apart: a chat agent's typical rhythm. */
export function defaultWorkload(): ReplayCall[] {
  const calls: ReplayCall[] = [];
  for (let turn = 0; turn < 5; turn++) {
    for (let i = 0; i < 4; i++) {
      const t = turn * 900_000 + i * 10_000;
      calls.push({ callerHash: null, startedAt: t, endedAt: t });
    }
  }
  return calls;
}
const DEFAULT_WORKLOAD_TEXT =
  'no agent traffic yet, so a default workload: 5 turns of 4 calls 10 s apart, turns 15 min apart';

/** Seconds with at most ms precision and no trailing zeros: 30 s, 1.5 s, 0.142 s. */
const s = (ms: number) => `${Math.round(ms) / 1000} s`;

/** The pool's safe TTL from one window: its lower edge less the margin; null when there is no safe TTL. */
export function safePoolTtlMs(
  lifetime: Pick<LifetimeEstimate, 'lowerMs' | 'validatesSessionIds'>,
): number | null {
  if (lifetime.validatesSessionIds === false || lifetime.lowerMs === null) return null;
  if (lifetime.lowerMs < MIN_TTL_EVIDENCE_MS) return null;
  const ttl = Math.floor(lifetime.lowerMs * (1 - POOL_SAFETY_MARGIN));
  return ttl > 0 ? ttl : null;
}

/** The pool TTL every caller's evidence allows (the smallest); null when any caller with evidence allows none. */
function workloadPoolTtlMs(lifetime: LifetimeEstimate, ev: WorkloadEvidence): number | null {
  let ttl: number | null = null;
  for (const c of ev.callers.values()) {
    if (c.evidence === null) continue;
    const own = safePoolTtlMs({
      lowerMs: c.evidence.window.lowerMs,
      validatesSessionIds: lifetime.validatesSessionIds,
    });
    if (own === null) return null;
    ttl = ttl === null ? own : Math.min(ttl, own);
  }
  return ttl;
}

function evidenceDescription(ev: WorkloadEvidence, callers: number): string {
  if (ev.used.length === 0) return 'no lifetime evidence yet';
  if (ev.used.length === 2)
    return `sessions with a GET stream for the ${ev.callersHoldingStream} caller${ev.callersHoldingStream === 1 ? '' : 's'} holding one, without for the other ${callers - ev.callersHoldingStream}`;
  return ev.used[0] === 'withStream'
    ? 'sessions that held a GET stream (as the callers do)'
    : 'sessions without a GET stream';
}

/** One sentence about the window the answer stands on, in words that match the data. */
export function describeWindow(w: LifetimeWindow, basis: 'idle' | 'age', withStream: boolean): string {
  const what = basis === 'age' ? 'of age' : 'idle';
  const held = withStream ? ' with a GET stream held' : '';
  if (w.expirations === 0) {
    return `sessions${held} survived ${basis === 'age' ? 'to an age of' : 'idle gaps up to'} ${s(w.maxSurvivalMs ?? 0)} and none expired, so beyond ${s(w.maxSurvivalMs ?? 0)} the risk is unknown`;
  }
  if (w.lowerMs === null && w.maxSurvivalMs === null) {
    return `sessions${held} expired after every ${basis === 'age' ? 'age' : 'idle gap'} tried (the shortest ${s(w.minExpiryMs!)})`;
  }
  const upper = w.upperMs === null ? `beyond ${s(w.maxSurvivalMs!)}` : `and ${s(w.upperMs)}`;
  const lower = s(w.lowerMs ?? 0);
  if (w.sweeping) {
    return `sessions${held} expire between ${lower} ${upper} ${what}: survivals up to ${s(w.maxSurvivalMs!)} beside expiries from ${s(w.minExpiryMs!)} show a periodic sweeper, so the window spans the overlap`;
  }
  return `sessions${held} expire between ${lower} ${upper} ${what}`;
}

/**
 * Recommend per-call, per-turn or a pool for one upstream: replay the calls (or the default
 * workload), each caller judged on the evidence that matches how it connects, and take the
 * cheapest strategy with no expected stale failure and no reuse beyond what was observed
 * (the simpler one on a tie). A reuse beyond every survival, with nothing expired, is unknown:
 * never charged as a failure, never recommended blind; the reason says which gaps to probe.
 */
export function recommendStrategy(
  lifetime: LifetimeEstimate,
  observedCalls: readonly ReplayCall[],
  opts: RecommendOptions,
): Recommendation {
  const observed = observedCalls.length > 0;
  const calls = observed ? observedCalls : defaultWorkload();
  const callers = new Set(calls.map((c) => c.callerHash ?? '')).size;
  const workload: Workload = observed
    ? {
        source: 'observed',
        calls: calls.length,
        callers,
        description: `${calls.length} observed calls from ${callers} caller${callers === 1 ? '' : 's'}`,
      }
    : { source: 'default', calls: calls.length, callers, description: DEFAULT_WORKLOAD_TEXT };
  const initCostMs = lifetime.sessionOpen.p50Ms ?? lifetime.initLatency.p50Ms ?? DEFAULT_INIT_COST_MS;
  // The default workload connects as the probe did: with a stream only if that is all that was measured.
  const probeHeldStreams =
    lifetime.idle.survivals + lifetime.idle.expirations === 0 &&
    lifetime.withStream.survivals + lifetime.withStream.expirations > 0;
  const ev = workloadEvidence(lifetime, calls, probeHeldStreams);
  const evidence: EvidenceUsed = {
    used: ev.used,
    callers,
    callersHoldingStream: ev.callersHoldingStream,
    description: evidenceDescription(ev, callers),
  };
  const ttl =
    lifetime.stateless || lifetime.validatesSessionIds === false ? null : workloadPoolTtlMs(lifetime, ev);
  const ageLimited = ev.used.includes('withoutStream') && lifetime.basis === 'age';
  const keepalive = ttl !== null && !ageLimited && opts.keepalive?.keepsAlive === true ? ttl : null;
  const strategies = replayStrategies(
    calls,
    {
      turnGapMs: opts.turnGapMs,
      initCostMs,
      poolIdleTtlMs: ttl,
      keepaliveIntervalMs: keepalive,
      evidenceFor: (caller) => ev.callers.get(caller)?.evidence ?? null,
    },
    ageLimited ? 'age' : 'idle',
  );
  const byName = Object.fromEntries(strategies.map((o) => [o.strategy, o])) as Partial<
    Record<StrategyName, StrategyOutcome>
  >;
  const base = {
    initCostMs,
    expectedInitSecondsPer100Calls: Object.fromEntries(
      strategies.map((o) => [o.strategy, o.expectedInitSecondsPer100Calls]),
    ),
    expectedStaleFailuresPer100Calls: Object.fromEntries(
      strategies.map((o) => [o.strategy, o.expectedStaleFailuresPer100Calls]),
    ),
    strategies,
    workload,
    evidence,
  };
  const pick = (strategy: StrategyName, reason: string, nextProbeGapsMs: number[] = []): Recommendation => {
    const pool = strategy === 'pool';
    return {
      strategy,
      poolIdleTtlMs: pool ? ttl : null,
      poolMaxAgeMs: pool && ageLimited ? ttl : null,
      keepaliveIntervalMs: pool ? keepalive : null,
      ...base,
      nextProbeGapsMs,
      reason: observed ? reason : `${reason} (${DEFAULT_WORKLOAD_TEXT})`,
    };
  };

  if (lifetime.stateless) {
    const cost = opts.callLatency;
    const p50 = cost?.p50Ms;
    return pick(
      'per-call',
      `stateless upstream: there is no session to keep, so every call stands alone${p50 != null ? ` and costs ${s(p50)} (p50 of ${cost!.n} call${cost!.n === 1 ? '' : 's'})` : ''}`,
    );
  }
  if (lifetime.validatesSessionIds === false) {
    return pick(
      'per-turn',
      'the upstream accepts made-up session ids, so no lifetime can be measured; reuse a session only within a turn, where losing its state costs least',
    );
  }
  const perTurn = byName['per-turn']!;
  if (ev.used.length === 0) {
    const probe = opts.lastProbe;
    return pick(
      'per-turn',
      probe
        ? `the probe of ${probe.startedAt} (${probe.status}) observed no idle gap on a session, so no lifetime is known; see its result for why, and probe again once the upstream answers; per-turn reuse avoids long idle gaps meanwhile`
        : 'no session lifetime observed yet (run `mcp-session-probe probe`); per-turn reuse avoids long idle gaps until one is measured',
    );
  }

  // Safety first: a stale-session failure is an error an agent sees, an init only costs time,
  // and a reuse beyond anything observed is a guess. So take the cheapest strategy with neither;
  // per-call always qualifies, and the pool does by construction (its TTL is below what survived).
  const cheaper = (a: StrategyOutcome, b: StrategyOutcome) =>
    a.expectedInitSecondsPer100Calls < b.expectedInitSecondsPer100Calls - 1e-9;
  let best = strategies[0]!;
  for (const o of strategies.slice(1)) {
    if (o.expectedStaleFailuresPer100Calls !== 0 || o.unknownReuses > 0) continue;
    if (cheaper(o, best)) best = o;
  }
  // Cheaper strategies held back only by reuses beyond what was observed: what to probe to know.
  const blind = strategies.filter((o) => o.riskyReuses === 0 && o.unknownReuses > 0 && cheaper(o, best));
  const unknownGaps = blind.flatMap((o) => o.unknownGapsMs);
  const mainWindow = mainEvidenceWindow(lifetime, ev);
  const neverExpired = mainWindow.window.expirations === 0;
  const nextGaps =
    blind.length > 0 || neverExpired ? nextGapsToProbe(unknownGaps, mainWindow.window.maxSurvivalMs) : [];
  const advice =
    blind.length > 0 && nextGaps.length > 0
      ? `; ${blind.map((o) => o.strategy).join(' and ')} would save more but reuse${blind.length === 1 ? 's' : ''} sessions after gaps beyond anything observed (up to ${s(Math.max(...unknownGaps))}): ${probeAdvice(nextGaps)} to know`
      : neverExpired && nextGaps.length > 0
        ? `; ${probeAdvice(nextGaps)} to find where sessions end`
        : '';
  const turnRisk = perTurn.expectedStaleFailuresPer100Calls ?? 0;
  const perCall = byName['per-call']!;
  const saved = perCall.expectedInitSecondsPer100Calls - best.expectedInitSecondsPer100Calls;
  const window = `${describeWindow(mainWindow.window, mainWindow.basis, mainWindow.withStream)} (judged on ${evidence.description})`;
  if (best.strategy === 'pool') {
    const how =
      keepalive !== null
        ? `pinging every ${s(keepalive)} keeps them alive`
        : ageLimited
          ? `retiring them at ${s(ttl!)} of age stays on the safe side`
          : `retiring them after ${s(ttl!)} idle stays on the safe side`;
    return pick(
      'pool',
      `${window}; ${how} and saves ${saved.toFixed(1)} s of init per 100 calls over per-call${turnRisk > 0 ? `, where per-turn reuse would risk ${turnRisk} stale failures per 100 calls` : ''}${advice}`,
      nextGaps,
    );
  }
  if (best.strategy === 'per-turn') {
    return pick(
      'per-turn',
      `${window}; reusing a session within a turn stays within that and saves ${saved.toFixed(1)} s of init per 100 calls${ttl === null ? '' : ', and a pool saves no more'}${advice}`,
      nextGaps,
    );
  }
  const noPool =
    ttl === null && mainWindow.window.lowerMs !== null && mainWindow.window.lowerMs < MIN_TTL_EVIDENCE_MS
      ? `no pool TTL can rest on survivals of ${s(mainWindow.window.lowerMs)}`
      : 'no safe pool saves any init';
  return pick(
    'per-call',
    `${window}; ${turnRisk > 0 ? `per-turn reuse would risk ${turnRisk} stale failures per 100 calls and ` : ''}${noPool}, so open a fresh session per call${advice}`,
    nextGaps,
  );
}

/** The window most calls are judged on: the one the most callers use. */
function mainEvidenceWindow(
  lifetime: LifetimeEstimate,
  ev: WorkloadEvidence,
): { window: LifetimeWindow; basis: 'idle' | 'age'; withStream: boolean } {
  let withStream = 0;
  let without = 0;
  for (const c of ev.callers.values()) {
    if (c.evidence === null) continue;
    if (c.kind === 'withStream') withStream++;
    else without++;
  }
  if (withStream > without) return { window: lifetime.withStream, basis: 'idle', withStream: true };
  const age = lifetime.basis === 'age';
  return { window: age ? lifetime.age : lifetime.idle, basis: age ? 'age' : 'idle', withStream: false };
}
