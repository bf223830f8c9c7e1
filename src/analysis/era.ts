// The two protocol eras per upstream (docs/eras.md): does the upstream keep sessions (2025),
// serve sessionless requests (2026-07-28, or a stateless 2025 server), or both on one URL;
// which versions it answered and callers asked for; what a sessionless call costs; how long
// `subscriptions/listen` streams stayed open; and which callers still speak which revision.
// Pure: the report shell (report.ts) loads the rows.
import {
  type Era,
  FIRST_SESSIONLESS_VERSION,
  splitVersions,
  UNSUPPORTED_PROTOCOL_VERSION,
} from '../sessions/era.js';
import type { ExchangeRecord } from '../sessions/types.js';
import { type LatencySummary, summarizeLatency } from './lifetime.js';
import { isAgentCall } from './replay.js';
import type { RecommendationJson } from './report.js';

/** docs/contract.md "Two eras" (contract names). */
export type SessionModel = 'sessions' | 'sessionless' | 'both' | 'unknown';

export type EraExchange = Pick<
  ExchangeRecord,
  | 'source'
  | 'httpMethod'
  | 'rpcMethod'
  | 'sessionHash'
  | 'era'
  | 'protocolVersion'
  | 'upstreamVersions'
  | 'outcome'
  | 'rpcErrorCode'
  | 'callerHash'
  | 'startedAt'
  | 'headersAt'
  | 'responseAt'
  | 'endedAt'
>;

export interface EraSession {
  protocolVersion: string | null;
}

/** How a `subscriptions/listen` stream ended. */
export type ListenEnd = 'client' | 'server' | 'error';

export interface ListenSummary {
  streams: number;
  endedBy: Record<ListenEnd, number>;
  /** How long the upstream kept streams open (response headers to end). */
  openMs: LatencySummary & { maxMs: number | null };
}

export interface CallerEra {
  /** Keyed hash of the caller (never the credential). */
  callerHash: string | null;
  era: Era | null;
  protocolVersion: string | null;
  exchanges: number;
  lastSeenAt: number;
}

export interface EraSummary {
  sessionModel: SessionModel;
  protocolVersions: { answered: string[]; asked: string[] };
  /** Sessionless requests the upstream served (2026 era), and what they cost. */
  sessionless: { served: number; callLatency: LatencySummary; discoverLatency: LatencySummary };
  listen: ListenSummary;
  /** The migration view: which callers speak which revision, from agent traffic. */
  callers: CallerEra[];
}

const METHOD_NOT_FOUND = -32601;
/** 2026 plumbing, not agent work: discovery is cacheable, a listen stream is no call. */
const NOT_A_SESSIONLESS_CALL = new Set(['server/discover', 'subscriptions/listen']);

/** The upstream answered a 2026 request as a 2026 server would (not a version or method refusal). */
function servedSessionless(e: EraExchange): boolean {
  if (e.era !== '2026') return false;
  if (e.outcome === 'ok') return true;
  return (
    e.outcome === 'rpc_error' &&
    e.rpcErrorCode !== UNSUPPORTED_PROTOCOL_VERSION &&
    e.rpcErrorCode !== METHOD_NOT_FOUND
  );
}

/** How a listen stream ended: the listen result is the server's graceful end; a clean close with none is the client's. */
export function listenEnd(e: Pick<EraExchange, 'responseAt' | 'outcome'>): ListenEnd {
  if (e.responseAt !== null) return 'server';
  return e.outcome === 'ok' ? 'client' : 'error';
}

const latencyOf = (e: EraExchange) => (e.responseAt ?? e.endedAt ?? e.startedAt) - e.startedAt;

export interface SummarizeErasOptions {
  /** The tracker's flag: the upstream answered a 2025 `initialize` without a session id. */
  stateless: boolean | null;
}

export function summarizeEras(
  exchanges: readonly EraExchange[],
  sessions: readonly EraSession[],
  opts: SummarizeErasOptions,
): EraSummary {
  const answered = new Set<string>();
  const asked = new Set<string>();
  let sessionlessServed = 0;
  let sessionful = sessions.length > 0 || opts.stateless === false;
  const proxyCalls: number[] = [];
  const probeCalls: number[] = [];
  const discover: number[] = [];
  const listens: EraExchange[] = [];
  const callers = new Map<string, CallerEra>();

  for (const s of sessions) if (s.protocolVersion) answered.add(s.protocolVersion);
  for (const e of exchanges) {
    for (const v of splitVersions(e.upstreamVersions)) answered.add(v);
    if (e.sessionHash !== null) sessionful = true;
    if (e.source === 'proxy' && e.protocolVersion && e.era !== null) asked.add(e.protocolVersion);
    if (e.rpcMethod === 'subscriptions/listen') {
      if (e.era === '2026' && e.headersAt !== null && e.endedAt !== null) listens.push(e);
      continue;
    }
    if (servedSessionless(e)) {
      sessionlessServed++;
      if (e.rpcMethod === 'server/discover') discover.push(latencyOf(e));
      else if (e.httpMethod === 'POST' && e.rpcMethod !== null && !e.rpcMethod.startsWith('notifications/')) {
        (e.source === 'proxy' ? proxyCalls : probeCalls).push(latencyOf(e));
      }
    }
    if (e.source === 'proxy' && isAgentCall(e) && !NOT_A_SESSIONLESS_CALL.has(e.rpcMethod ?? '')) {
      const key = `${e.callerHash ?? ''}\0${e.era ?? ''}\0${e.protocolVersion ?? ''}`;
      const row = callers.get(key);
      if (row) {
        row.exchanges++;
        row.lastSeenAt = Math.max(row.lastSeenAt, e.startedAt);
      } else {
        callers.set(key, {
          callerHash: e.callerHash,
          era: e.era,
          protocolVersion: e.protocolVersion,
          exchanges: 1,
          lastSeenAt: e.startedAt,
        });
      }
    }
  }

  const sessionless = sessionlessServed > 0 || opts.stateless === true;
  const sessionModel: SessionModel =
    sessionful && sessionless ? 'both' : sessionful ? 'sessions' : sessionless ? 'sessionless' : 'unknown';
  const endedBy: Record<ListenEnd, number> = { client: 0, server: 0, error: 0 };
  const open: number[] = [];
  for (const l of listens) {
    endedBy[listenEnd(l)]++;
    open.push(l.endedAt! - l.headersAt!);
  }
  return {
    sessionModel,
    protocolVersions: { answered: byRevision(answered), asked: byRevision(asked) },
    sessionless: {
      served: sessionlessServed,
      // Agent traffic first; without it, the probe's sessionless calls.
      callLatency: summarizeLatency(proxyCalls.length > 0 ? proxyCalls : probeCalls),
      discoverLatency: summarizeLatency(discover),
    },
    listen: {
      streams: listens.length,
      endedBy,
      openMs: { ...summarizeLatency(open), maxMs: open.length > 0 ? Math.max(...open) : null },
    },
    callers: [...callers.values()].sort((a, b) => b.lastSeenAt - a.lastSeenAt),
  };
}

/** Newest revision first. */
function byRevision(versions: Set<string>): string[] {
  return [...versions].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

const sec = (ms: number | null): number | null => (ms === null ? null : Math.round(ms) / 1000);
const s = (ms: number) => `${Math.round(ms) / 1000} s`;

/**
 * The answer for callers of the sessionless era: there is no session to keep, so every call
 * stands alone (per-call) and no pool TTL exists. Built from the shape of `base` so the JSON
 * keeps every field of a recommendation.
 */
export function sessionlessRecommendation(summary: EraSummary, base: RecommendationJson): RecommendationJson {
  const call = summary.sessionless.callLatency;
  const discover = summary.sessionless.discoverLatency;
  const cost =
    call.p50Ms !== null
      ? `one call costs ${s(call.p50Ms)} (p50 of ${call.n} sessionless call${call.n === 1 ? '' : 's'}), with no handshake before it`
      : 'one call costs one request, with no handshake before it';
  const discovery =
    discover.p50Ms !== null
      ? `; server/discover costs ${s(discover.p50Ms)} and a client may cache its answer`
      : '';
  return {
    ...base,
    strategy: 'per-call',
    poolIdleTtlSeconds: null,
    poolMaxAgeSeconds: null,
    keepaliveIntervalSeconds: null,
    initCostSeconds: 0,
    expectedInitSecondsPer100Calls: { 'per-call': 0 },
    expectedStaleFailuresPer100Calls: { 'per-call': 0 },
    strategies: [],
    reason: `sessionless (MCP ${FIRST_SESSIONLESS_VERSION}): sessions do not exist there, so there is nothing to reuse, pool or keep alive; ${cost}${discovery}`,
  };
}

/** The JSON each report entry and the lifetime route carry (docs/design.md "Two eras"). */
export function eraJson(summary: EraSummary) {
  const l = summary.listen;
  return {
    sessionModel: summary.sessionModel,
    protocolVersions: summary.protocolVersions,
    sessionless: {
      served: summary.sessionless.served,
      callLatencySeconds: latencyJson(summary.sessionless.callLatency),
      discoverLatencySeconds: latencyJson(summary.sessionless.discoverLatency),
    },
    listen: {
      streams: l.streams,
      endedBy: l.endedBy,
      openSeconds: { ...latencyJson(l.openMs), max: sec(l.openMs.maxMs) },
    },
  };
}
export type EraJson = ReturnType<typeof eraJson>;

function latencyJson(l: LatencySummary) {
  return { p50: sec(l.p50Ms), p90: sec(l.p90Ms), n: l.n };
}

export function callersJson(callers: readonly CallerEra[]) {
  return callers.map((c) => ({
    callerHash: c.callerHash,
    era: c.era,
    protocolVersion: c.protocolVersion,
    exchanges: c.exchanges,
    lastSeenAt: new Date(c.lastSeenAt).toISOString(),
  }));
}

/** What the era analysis adds to one report entry. */
export interface EraReportFields {
  sessionModel: SessionModel;
  protocolVersions: EraSummary['protocolVersions'];
  /** Upstreams serving both eras only: one answer per era; `2025` is the top-level answer. */
  eras?: Record<Era, { recommendation: RecommendationJson }>;
  /** The migration view: which (hashed) callers speak which revision to this upstream. */
  migration: ReturnType<typeof callersJson>;
}

/**
 * Adds the era fields to one report entry and picks the answer per era. The top-level
 * `lifetime` and `recommendation` stay the 2025 (session) era's wherever sessions exist: only a
 * session has a lifetime and only a pool needs a TTL, and callers reading those fields today are
 * 2025 callers. A sessionless upstream's top-level answer is the sessionless one.
 */
export function withEras<T extends { lifetime: object; recommendation: RecommendationJson }>(
  entry: T,
  summary: EraSummary,
): Omit<T, 'lifetime'> & { lifetime: T['lifetime'] & EraJson } & EraReportFields {
  const era = eraJson(summary);
  const lifetime = { ...entry.lifetime, ...era };
  const fields = {
    sessionModel: summary.sessionModel,
    protocolVersions: summary.protocolVersions,
    migration: callersJson(summary.callers),
  };
  if (summary.sessionModel === 'sessionless') {
    // A stateless 2025 server already gets per-call from the replay; 2026 traffic gets its own reason.
    const recommendation =
      summary.sessionless.served > 0
        ? sessionlessRecommendation(summary, entry.recommendation)
        : entry.recommendation;
    return { ...entry, lifetime, recommendation, ...fields };
  }
  if (summary.sessionModel === 'both') {
    const eras = {
      '2025': { recommendation: entry.recommendation },
      '2026': { recommendation: sessionlessRecommendation(summary, entry.recommendation) },
    };
    return { ...entry, lifetime, ...fields, eras };
  }
  return { ...entry, lifetime, ...fields };
}

/** The 2025-era agent calls (the replay's input): sessionless calls never join a session. */
export function isSessionCall(e: Pick<ExchangeRecord, 'era'>): boolean {
  return e.era !== '2026';
}
