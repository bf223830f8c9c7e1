// Turns a lifetime estimate and a replay into one recommendation with a reason.
import type { LatencySummary, LifetimeEstimate } from './lifetime.js';
import { type ReplayCall, replayStrategies, type StrategyName, type StrategyOutcome } from './replay.js';

/**
 * A pool retires sessions at half the window's lower bound. Many servers sweep expired
 * sessions periodically: with timeout T and sweep period P a session idle anywhere in
 * (T, T + P] may or may not be gone, so a survival at L proves only T + P > L. For a
 * sweeper that runs at least as often as its timeout (P <= T) that means T > L / 2,
 * and the probe cannot tell a sweeper from a clean timeout without many samples.
 */
export const POOL_SAFETY_MARGIN = 0.5;
/** Hosted MCP servers commonly take about a second to open a session (DESIGN.md). */
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

/** The pool's safe TTL: the window's lower bound less the margin, or null when no safe TTL exists. */
export function safePoolTtlMs(
  lifetime: Pick<LifetimeEstimate, 'lowerMs' | 'validatesSessionIds'>,
): number | null {
  if (lifetime.validatesSessionIds === false || lifetime.lowerMs === null) return null;
  const ttl = Math.floor(lifetime.lowerMs * (1 - POOL_SAFETY_MARGIN));
  return ttl > 0 ? ttl : null;
}

/**
 * Recommend per-call, per-turn or a pool for one upstream: replay the calls (or the
 * default workload) and take the one with the least init time among those with no
 * expected stale-session failures (the simpler one on a tie).
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
  const ttl = lifetime.stateless ? null : safePoolTtlMs(lifetime);
  const keepalive =
    ttl !== null && lifetime.basis !== 'age' && opts.keepalive?.keepsAlive === true ? ttl : null;
  const strategies = replayStrategies(calls, lifetime, {
    turnGapMs: opts.turnGapMs,
    initCostMs,
    poolIdleTtlMs: ttl,
    keepaliveIntervalMs: keepalive,
  });
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
  };
  const pick = (strategy: StrategyName, reason: string): Recommendation => {
    const pool = strategy === 'pool';
    const ageLimited = pool && lifetime.basis === 'age';
    return {
      strategy,
      poolIdleTtlMs: pool ? ttl : null,
      poolMaxAgeMs: ageLimited ? ttl : null,
      keepaliveIntervalMs: pool ? keepalive : null,
      ...base,
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
  const perTurn = byName['per-turn'];
  if (perTurn && perTurn.expectedStaleFailuresPer100Calls === null) {
    return pick(
      'per-turn',
      'no session lifetime observed yet (run `mcp-session-probe probe`); per-turn reuse avoids long idle gaps until one is measured',
    );
  }
  // Safety first: a stale-session failure is an error an agent sees, an init only costs
  // time. So take the cheapest strategy with no expected stale failures; per-call
  // always qualifies, and the pool does by construction (its TTL is below the window).
  let best = strategies[0]!;
  for (const o of strategies.slice(1)) {
    if (o.expectedStaleFailuresPer100Calls !== 0) continue;
    if (o.expectedInitSecondsPer100Calls < best.expectedInitSecondsPer100Calls - 1e-9) best = o;
  }
  const turnRisk = perTurn?.expectedStaleFailuresPer100Calls ?? 0;

  const perCall = byName['per-call']!;
  const saved = perCall.expectedInitSecondsPer100Calls - best.expectedInitSecondsPer100Calls;
  const window =
    lifetime.upperMs === null
      ? `sessions survived ${lifetime.basis === 'age' ? 'to an age of' : 'idle gaps up to'} ${s(lifetime.lowerMs ?? 0)} and none expired`
      : `sessions expire between ${s(lifetime.lowerMs ?? 0)} and ${s(lifetime.upperMs)} ${lifetime.basis === 'age' ? 'of age' : 'idle'}`;
  if (best.strategy === 'pool') {
    const how =
      keepalive !== null
        ? `pinging every ${s(keepalive)} keeps them alive`
        : lifetime.basis === 'age'
          ? `retiring them at ${s(ttl!)} of age stays on the safe side`
          : `retiring them after ${s(ttl!)} idle stays on the safe side`;
    return pick(
      'pool',
      `${window}; ${how} and saves ${saved.toFixed(1)} s of init per 100 calls over per-call${turnRisk > 0 ? `, where per-turn reuse would risk ${turnRisk} stale failures per 100 calls` : ''}`,
    );
  }
  if (best.strategy === 'per-turn') {
    return pick(
      'per-turn',
      `${window}; reusing a session within a turn never outlasts that and saves ${saved.toFixed(1)} s of init per 100 calls${ttl === null ? '' : ', and a pool saves no more'}`,
    );
  }
  return pick(
    'per-call',
    `${window}; ${turnRisk > 0 ? `per-turn reuse would risk ${turnRisk} stale failures per 100 calls and ` : ''}no safe pool saves any init, so open a fresh session per call`,
  );
}
