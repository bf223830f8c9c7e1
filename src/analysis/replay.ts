// Strategy recommendation by replay: the real calls of each caller are replayed under
// per-call sessions, per-turn reuse and a pool with an idle TTL, counting the sessions each
// opens (init cost) and judging every reuse against the lifetime evidence that matches how
// the caller connects (with or without a held GET stream). Pure.
//
// Concurrency is respected: a caller's parallel sessions are separate conversations, so
// per-turn reuse is replayed per conversation (never as one merged sequence whose gaps are
// the interleaving of six), and a pool hands a session to one call at a time.
import type { ExchangeRecord } from '../sessions/types.js';
import type { LifetimeWindow } from './lifetime.js';

export type StrategyName = 'per-call' | 'per-turn' | 'pool';

/** One agent call as the replay needs it (store rows fit). */
export type ReplayCall = Pick<ExchangeRecord, 'callerHash' | 'startedAt' | 'endedAt'> &
  Partial<Pick<ExchangeRecord, 'sessionHash' | 'streamAttached'>>;

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

/**
 * What is known about reusing a session after some idle gap (or at some age):
 * `safe` at or below the lower edge; `risky` above it when something expired (inside the
 * window or beyond it); `unknown` beyond the largest survival when nothing expired (censored:
 * no failure was ever seen there, and none is charged).
 */
export type ReuseVerdict = 'safe' | 'risky' | 'unknown';

/** The lifetime evidence a caller's reuses are judged against. */
export interface ReuseEvidence {
  /** Which variable limits a session. */
  basis: 'idle' | 'age';
  window: Pick<LifetimeWindow, 'lowerMs' | 'survivals' | 'expirations'>;
}

/** Judges one reuse; null evidence (nothing observed) makes every reuse unknown. */
export function judgeReuse(evidence: ReuseEvidence | null, idleGapMs: number, ageMs: number): ReuseVerdict {
  if (evidence === null || evidence.window.survivals + evidence.window.expirations === 0) return 'unknown';
  const value = evidence.basis === 'age' ? ageMs : idleGapMs;
  const lower = evidence.window.lowerMs;
  if (lower !== null && value <= lower) return 'safe';
  return evidence.window.expirations > 0 ? 'risky' : 'unknown';
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
  /** Reuses after an idle gap (or at an age) inside or above the lifetime window: charged as stale failures. */
  riskyReuses: number;
  /** Reuses beyond anything observed, with no expiry seen: risk unknown, not charged. */
  unknownReuses: number;
  /** The idle gaps (age basis: ages) of the unknown reuses, ascending: what to probe next. */
  unknownGapsMs: number[];
  expectedInitSecondsPer100Calls: number;
  /** null when nothing at all is known about the lifetime for any caller. */
  expectedStaleFailuresPer100Calls: number | null;
}

export interface ReplayOptions {
  /** A turn is a burst of calls separated by less than this (config analysis.turnGapSeconds). */
  turnGapMs: number;
  /** Cost of opening one session, ms (p50 of the full open, else of `initialize`). */
  initCostMs: number;
  /** Pool idle TTL to replay (age basis: maximum age); null: no pool (no safe TTL known). */
  poolIdleTtlMs: number | null;
  /** Pings keep sessions alive at this interval (probe-proven); null: no keepalive. */
  keepaliveIntervalMs?: number | null;
  /** The evidence for a caller (by `callerHash ?? ''`): with or without a held stream. */
  evidenceFor: (caller: string) => ReuseEvidence | null;
}

/** Calls grouped per caller (`callerHash ?? ''`), each group in time order. */
export function byCaller(calls: readonly ReplayCall[]): Map<string, ReplayCall[]> {
  const groups = new Map<string, ReplayCall[]>();
  for (const c of calls) {
    const key = c.callerHash ?? '';
    const list = groups.get(key);
    if (list) list.push(c);
    else groups.set(key, [c]);
  }
  for (const list of groups.values()) list.sort((a, b) => a.startedAt - b.startedAt);
  return groups;
}

const endOf = (c: ReplayCall) => Math.max(c.startedAt, c.endedAt ?? c.startedAt);

/**
 * A caller's conversations: the calls of each observed session that carried more than one
 * call are one conversation; calls on sessions used once (a caller that already opens a session
 * per call) or on none are chained into as few sequential conversations as their overlap in
 * time allows. Each conversation is in time order.
 */
export function conversations(calls: readonly ReplayCall[]): ReplayCall[][] {
  const perSession = new Map<string, ReplayCall[]>();
  for (const c of calls) {
    if (!c.sessionHash) continue;
    const list = perSession.get(c.sessionHash);
    if (list) list.push(c);
    else perSession.set(c.sessionHash, [c]);
  }
  const out: ReplayCall[][] = [];
  const loose: ReplayCall[][] = [];
  for (const c of calls) {
    const own = c.sessionHash ? perSession.get(c.sessionHash)! : null;
    if (own && own.length > 1) {
      if (own[0] === c) out.push(own);
      continue;
    }
    // The chain whose last call ended latest before this one starts (smallest gap), else a new one.
    let best: ReplayCall[] | null = null;
    for (const chain of loose) {
      const end = endOf(chain[chain.length - 1]!);
      if (end <= c.startedAt && (best === null || end > endOf(best[best.length - 1]!))) best = chain;
    }
    if (best) best.push(c);
    else {
      const chain = [c];
      loose.push(chain);
      out.push(chain);
    }
  }
  return out;
}

interface Tally {
  calls: number;
  sessions: number;
  risky: number;
  unknown: number;
  unknownGaps: number[];
  known: boolean;
}

function judge(t: Tally, evidence: ReuseEvidence | null, gap: number, age: number): void {
  const verdict = judgeReuse(evidence, gap, age);
  if (verdict === 'risky') t.risky++;
  else if (verdict === 'unknown') {
    t.unknown++;
    t.unknownGaps.push(evidence?.basis === 'age' ? age : gap);
  }
}

/** Per-turn: within each conversation, reuse while the gap is below the turn gap. */
function replayPerTurn(groups: Map<string, ReplayCall[]>, opts: ReplayOptions, t: Tally): void {
  for (const [caller, calls] of groups) {
    const evidence = opts.evidenceFor(caller);
    for (const conversation of conversations(calls)) {
      let openedAt = 0;
      let lastEnd: number | null = null;
      for (const call of conversation) {
        t.calls++;
        const gap = lastEnd === null ? Number.POSITIVE_INFINITY : Math.max(0, call.startedAt - lastEnd);
        if (lastEnd !== null && gap < opts.turnGapMs) judge(t, evidence, gap, call.startedAt - openedAt);
        else {
          t.sessions++;
          openedAt = call.startedAt;
        }
        lastEnd = Math.max(lastEnd ?? 0, endOf(call));
      }
    }
  }
}

interface PooledSession {
  openedAt: number;
  lastEnd: number;
}

/**
 * Pool: per caller, a call takes the idle session used most recently (never one another call
 * holds right now) if the pool would still keep it, else opens one.
 */
function replayPool(
  groups: Map<string, ReplayCall[]>,
  opts: ReplayOptions,
  ttl: number,
  age: boolean,
  keepalive: number | null,
  t: Tally,
): void {
  for (const [caller, calls] of groups) {
    const evidence = opts.evidenceFor(caller);
    const pool: PooledSession[] = [];
    for (const call of calls) {
      t.calls++;
      const keeps = (s: PooledSession) =>
        age ? call.startedAt - s.openedAt < ttl : keepalive !== null || call.startedAt - s.lastEnd < ttl;
      let pick: PooledSession | null = null;
      for (const s of pool) {
        if (s.lastEnd > call.startedAt || !keeps(s)) continue; // busy, or retired by now
        if (pick === null || s.lastEnd > pick.lastEnd) pick = s;
      }
      if (pick) {
        const gap = call.startedAt - pick.lastEnd;
        // With keepalive pings the upstream never sees a gap longer than the ping interval.
        judge(
          t,
          evidence,
          keepalive === null ? gap : Math.min(gap, keepalive),
          call.startedAt - pick.openedAt,
        );
        pick.lastEnd = endOf(call);
      } else {
        t.sessions++;
        pool.push({ openedAt: call.startedAt, lastEnd: endOf(call) });
      }
    }
  }
}

function outcomeOf(
  strategy: StrategyName,
  t: Tally,
  opts: ReplayOptions,
  extra: { idleTtlMs: number | null; keepaliveIntervalMs: number | null },
): StrategyOutcome {
  const per100 = (n: number) => (t.calls === 0 ? 0 : Math.round((n / t.calls) * 100 * 1000) / 1000);
  return {
    strategy,
    ...extra,
    calls: t.calls,
    sessions: t.sessions,
    riskyReuses: t.risky,
    unknownReuses: t.unknown,
    unknownGapsMs: [...t.unknownGaps].sort((a, b) => a - b),
    expectedInitSecondsPer100Calls:
      t.calls === 0 ? 0 : Math.round(((t.sessions * opts.initCostMs) / t.calls) * 100) / 1000,
    expectedStaleFailuresPer100Calls: t.known ? per100(t.risky) : null,
  };
}

const tally = (known: boolean): Tally => ({
  calls: 0,
  sessions: 0,
  risky: 0,
  unknown: 0,
  unknownGaps: [],
  known,
});

/**
 * Replays the calls under every strategy that applies. `poolBasis` says whether the pool
 * retires sessions by idle time or by age.
 */
export function replayStrategies(
  calls: readonly ReplayCall[],
  opts: ReplayOptions,
  poolBasis: 'idle' | 'age' = 'idle',
): StrategyOutcome[] {
  const groups = byCaller(calls);
  const none = { idleTtlMs: null, keepaliveIntervalMs: null };

  // Stale failures are counted (zero included) once anything is known for some caller.
  const known = [...groups.keys()].some((caller) => {
    const e = opts.evidenceFor(caller);
    return e !== null && e.window.survivals + e.window.expirations > 0;
  });
  const perCall = tally(known);
  perCall.calls = calls.length;
  perCall.sessions = calls.length;
  const out = [outcomeOf('per-call', perCall, opts, none)];

  const perTurn = tally(known);
  replayPerTurn(groups, opts, perTurn);
  out.push(outcomeOf('per-turn', perTurn, opts, none));

  const ttl = opts.poolIdleTtlMs;
  if (ttl !== null) {
    const keepalive = poolBasis === 'age' ? null : (opts.keepaliveIntervalMs ?? null);
    const pool = tally(known);
    replayPool(groups, opts, ttl, poolBasis === 'age', keepalive, pool);
    out.push(outcomeOf('pool', pool, opts, { idleTtlMs: ttl, keepaliveIntervalMs: keepalive }));
  }
  return out;
}
