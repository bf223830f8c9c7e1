// Fixtures shared by the store tests (the contract suite over both dialects, the SQLite-only tests).
import type { ExchangeRecord, SessionRecord } from '../../src/sessions/types.js';
import type { ProbeRunRow } from '../../src/store/types.js';
import { exchangeRecord } from './records.js';

export function exchange(over: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return exchangeRecord(over);
}

export function session(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    upstream: 'linear',
    source: 'proxy',
    sessionHash: 'abcdef0123456789',
    transport: 'streamable-http',
    openedAt: 1_700_000_000_000,
    adopted: false,
    initLatencyMs: null,
    initializedAt: null,
    protocolVersion: null,
    clientName: null,
    clientVersion: null,
    serverName: null,
    serverVersion: null,
    exchanges: 1,
    lastActivityAt: 1_700_000_000_000,
    endedAt: null,
    endReason: null,
    ...over,
  };
}

/** Every field set to a non-default value, so a dropped column shows up. */
export const fullExchange = exchange({
  upstream: 'atlassian',
  source: 'probe',
  probeRunId: 'run-1',
  transport: 'sse',
  sessionHash: '0123456789abcdef',
  httpMethod: 'POST',
  rpcMethod: 'tools/call',
  rpcCount: 3,
  toolName: 'search_issues',
  rpcId: '42',
  startedAt: 1_700_000_001_000,
  headersAt: 1_700_000_001_100,
  responseAt: 1_700_000_001_150,
  endedAt: 1_700_000_001_200,
  httpStatus: 404,
  outcome: 'session_expired',
  confidence: 'spec',
  idleGapMs: 300_000.5,
  sessionAgeMs: 900_000.25,
  streamAttached: true,
  exchangesBefore: 7,
  protocolVersion: '2025-06-18',
  callerHash: 'feedfacefeedface',
  rpcErrorCode: -32001,
  errorMessage: 'Session not found',
});

export const fullSession = session({
  upstream: 'atlassian',
  source: 'probe',
  sessionHash: '0123456789abcdef',
  transport: 'sse',
  openedAt: 1_700_000_000_000,
  adopted: true,
  initLatencyMs: 812.5,
  initializedAt: 1_700_000_000_900,
  protocolVersion: '2025-06-18',
  clientName: 'claude',
  clientVersion: '1.2.3',
  serverName: 'atlassian-mcp',
  serverVersion: '4.5.6',
  exchanges: 9,
  lastActivityAt: 1_700_000_005_000,
  endedAt: 1_700_000_006_000,
  endReason: 'expired',
});

export function probeRun(id: string, startedAt: number, over: Partial<ProbeRunRow> = {}): ProbeRunRow {
  return {
    id,
    status: 'done',
    mode: 'ladder',
    upstreams: ['linear', 'atlassian'],
    startedAt,
    finishedAt: startedAt + 60_000,
    heartbeatAt: startedAt + 60_000,
    result: { id, results: [{ upstream: 'linear', checkpoints: [{ success: true }] }] },
    ...over,
  };
}
