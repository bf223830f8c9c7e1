// Strategy recommendation by replay: the real call sequence of each caller is
// replayed under per-call sessions, per-turn reuse and a pool with an idle TTL,
// counting the sessions each opens (init cost) and the reuses whose idle gap or
// age falls inside or above the lifetime window (stale-session risk). Pure.
import type { ExchangeRecord } from '../sessions/types.js';
import type { LifetimeEstimate } from './lifetime.js';

export type StrategyName = 'per-call' | 'per-turn' | 'pool';

/** One agent call as the replay needs it (store rows fit). */
export type ReplayCall = Pick<ExchangeRecord, 'callerHash' | 'startedAt' | 'endedAt'>;

/** Methods that are session plumbing, not work an agent asked for. */
const NOT_A_CALL = new Set(['initialize', 'ping']);

/** Agent work among proxied exchanges: JSON-RPC requests other than the handshake, notifications and pings. */
export function isAgentCall(e: Pick<ExchangeRecord, 'source' | 'httpMethod' | 'rpcMethod'>): boolean {
  return (
    e.source === 'proxy' &&
    e.httpMethod === 'POST' &&
    e.rpcMethod !== null &&
    !NOT_A_CALL.has(e.rpcMethod) &&
    !e.rpcMethod.startsWith('notifications/')
  );
}

export interface StrategyOutcome {
  strategy: StrategyName;
  /** Pool only: sessions are reused only when the idle gap is below this. */
  idleTtlMs: number | null;
  /** Pool only: pings at this interval keep the session alive between calls. */
  keepaliveIntervalMs: number | null;
  calls: number;
  /** Sessions opened (each pays the init cost). */
  sessions: number;
  /** Reuses after an idle gap (or at an age) inside or above the lifetime window. */
  riskyReuses: number;
  expectedInitSecondsPer100Calls: number;
  /** null when nothing is known about the lifetime yet. */
  expectedStaleFailuresPer100Calls: number | null;
}

export interface ReplayOptions {
  /** A turn is a burst of calls separated by less than this (config analysis.turnGapSeconds). */
  turnGapMs: number;
  /** Cost of opening one session, ms (p50 of the full open, else of `initialize`). */
  initCostMs: number;
  /** Pool idle TTL to replay; null: no pool (no safe TTL known). */
  poolIdleTtlMs: number | null;
  /** Pings keep sessions alive at this interval (probe-proven); null: no keepalive. */
  keepaliveIntervalMs?: number | null;
}

/** Calls grouped per caller, in time order; a caller with no hash is one anonymous caller. */
function byCaller(calls: readonly ReplayCall[]): ReplayCall[][] {
  const groups = new Map<string, ReplayCall[]>();
  for (const c of calls) {
    const key = c.callerHash ?? '';
    const list = groups.get(key);
    if (list) list.push(c);
    else groups.set(key, [c]);
  }
  return [...groups.values()].map((list) => [...list].sort((a, b) => a.startedAt - b.startedAt));
}

/**
 * Whether reusing a session at this idle gap and age risks a stale-session failure:
 * the basis variable is above the window's lower bound (nothing known below it
 * expired). null when nothing is known about the lifetime.
 */
export function reuseRisk(
  lifetime: Pick<LifetimeEstimate, 'basis' | 'lowerMs' | 'upperMs' | 'survivals' | 'expirations'>,
): ((idleGapMs: number, ageMs: number) => boolean) | null {
  if (lifetime.survivals === 0 && lifetime.expirations === 0) return null;
  const safe = lifetime.lowerMs ?? 0;
  if (lifetime.basis === 'age') return (_gap, age) => age > safe;
  return (gap) => gap > safe;
}

type ReusePolicy = (idleGapMs: number, ageMs: number) => boolean;

function replayOne(
  strategy: StrategyName,
  groups: readonly ReplayCall[][],
  reuse: ReusePolicy,
  risk: ReturnType<typeof reuseRisk>,
  opts: ReplayOptions,
  extra: { idleTtlMs: number | null; keepaliveIntervalMs: number | null },
): StrategyOutcome {
  let calls = 0;
  let sessions = 0;
  let risky = 0;
  for (const group of groups) {
    let openedAt = 0;
    let lastEnd: number | null = null;
    for (const call of group) {
      calls++;
      const gap = lastEnd === null ? Number.POSITIVE_INFINITY : Math.max(0, call.startedAt - lastEnd);
      if (lastEnd !== null && reuse(gap, call.startedAt - openedAt)) {
        // With keepalive pings the upstream never sees a gap longer than the ping interval.
        const seenGap = extra.keepaliveIntervalMs === null ? gap : Math.min(gap, extra.keepaliveIntervalMs);
        if (risk?.(seenGap, call.startedAt - openedAt)) risky++;
      } else {
        sessions++;
        openedAt = call.startedAt;
      }
      lastEnd = Math.max(lastEnd ?? 0, call.endedAt ?? call.startedAt);
    }
  }
  const per100 = (n: number) => (calls === 0 ? 0 : Math.round((n / calls) * 100 * 1000) / 1000);
  return {
    strategy,
    ...extra,
    calls,
    sessions,
    riskyReuses: risky,
    expectedInitSecondsPer100Calls:
      calls === 0 ? 0 : Math.round(((sessions * opts.initCostMs) / calls) * 100) / 1000,
    expectedStaleFailuresPer100Calls: risk === null ? null : per100(risky),
  };
}

/** Replays the calls under every strategy that applies. */
export function replayStrategies(
  calls: readonly ReplayCall[],
  lifetime: Pick<LifetimeEstimate, 'basis' | 'lowerMs' | 'upperMs' | 'survivals' | 'expirations'>,
  opts: ReplayOptions,
): StrategyOutcome[] {
  const groups = byCaller(calls);
  const risk = reuseRisk(lifetime);
  const none = { idleTtlMs: null, keepaliveIntervalMs: null };
  const out = [
    replayOne('per-call', groups, () => false, risk, opts, none),
    replayOne('per-turn', groups, (gap) => gap < opts.turnGapMs, risk, opts, none),
  ];
  const ttl = opts.poolIdleTtlMs;
  const keepalive = opts.keepaliveIntervalMs ?? null;
  if (ttl !== null) {
    // A pool on an age-limited upstream also retires sessions before the safe age.
    const reuse: ReusePolicy =
      lifetime.basis === 'age'
        ? (_gap, age) => age < ttl
        : keepalive !== null
          ? () => true
          : (gap) => gap < ttl;
    out.push(
      replayOne('pool', groups, reuse, risk, opts, { idleTtlMs: ttl, keepaliveIntervalMs: keepalive }),
    );
  }
  return out;
}
