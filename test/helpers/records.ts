import type { ExchangeRecord } from '../../src/sessions/types.js';

/** A complete ExchangeRecord for store and analysis tests: a successful `tools/list`, plus `over`. */
export function exchangeRecord(over: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return {
    upstream: 'linear',
    source: 'proxy',
    probeRunId: null,
    transport: 'streamable-http',
    sessionHash: 'abcdef0123456789',
    httpMethod: 'POST',
    rpcMethod: 'tools/list',
    rpcCount: 1,
    toolName: null,
    rpcId: '1',
    startedAt: 1_700_000_000_000,
    headersAt: null,
    responseAt: null,
    endedAt: null,
    httpStatus: 200,
    outcome: 'ok',
    confidence: null,
    idleGapMs: null,
    sessionAgeMs: null,
    streamAttached: false,
    exchangesBefore: null,
    protocolVersion: null,
    era: null,
    upstreamVersions: null,
    callerHash: null,
    rpcErrorCode: null,
    errorMessage: null,
    healed: false,
    healLatencyMs: null,
    ...over,
  };
}
