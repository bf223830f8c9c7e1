// Store rows → the JSON shapes docs/contract.md promises (seconds with ms precision, ISO times).
import type { LossCause } from '../analysis/loss.js';
import type { StoredExchange, StoredSession, StoredUpstream } from '../store/types.js';

export function seconds(ms: number | null | undefined): number | null {
  return ms === null || ms === undefined ? null : Math.round(ms) / 1000;
}

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function sessionJson(s: StoredSession) {
  return {
    upstream: s.upstream,
    sessionHash: s.sessionHash,
    transport: s.transport,
    source: s.source,
    openedAt: iso(s.openedAt),
    adopted: s.adopted,
    initLatencySeconds: seconds(s.initLatencyMs),
    initializedAt: iso(s.initializedAt),
    protocolVersion: s.protocolVersion,
    client: s.clientName ? { name: s.clientName, version: s.clientVersion } : null,
    server: s.serverName ? { name: s.serverName, version: s.serverVersion } : null,
    exchanges: s.exchanges,
    lastActivityAt: iso(s.lastActivityAt),
    endedAt: iso(s.endedAt),
    endReason: s.endReason,
  };
}

/** A session error; `cause` set when the analysis found it was lost, not expired (`session_lost`). */
export function expirationJson(e: StoredExchange, cause: LossCause | null = null) {
  return {
    upstream: e.upstream,
    sessionHash: e.sessionHash,
    source: e.source,
    transport: e.transport,
    idleGapSeconds: seconds(e.idleGapMs),
    sessionAgeSeconds: seconds(e.sessionAgeMs),
    exchangesBefore: e.exchangesBefore,
    method: e.rpcMethod ?? e.httpMethod,
    httpStatus: e.httpStatus,
    outcome: cause ? 'session_lost' : e.outcome,
    confidence: e.confidence,
    cause,
    streamAttached: e.streamAttached,
    healed: e.healed,
    healLatencySeconds: seconds(e.healLatencyMs),
    errorMessage: e.errorMessage,
    at: iso(e.startedAt),
  };
}

export function upstreamJson(u: StoredUpstream) {
  return {
    id: u.id,
    name: u.name,
    url: u.url,
    transport: u.transport,
    stateless: u.stateless,
    validatesSessionIds: u.validatesSessionIds,
  };
}
