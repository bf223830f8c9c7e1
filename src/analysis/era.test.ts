import { describe, expect, it } from 'vitest';
import { exchangeRecord } from '../../test/helpers/records.js';
import type { ExchangeRecord } from '../sessions/types.js';
import { listenEnd, summarizeEras, withEras } from './era.js';
import type { RecommendationJson } from './report.js';

const T = 1_700_000_000_000;
const modern = (over: Partial<ExchangeRecord> = {}) =>
  exchangeRecord({
    sessionHash: null,
    era: '2026',
    protocolVersion: '2026-07-28',
    upstreamVersions: '2026-07-28',
    startedAt: T,
    responseAt: T + 40,
    endedAt: T + 41,
    callerHash: 'c-new',
    rpcMethod: 'tools/call',
    ...over,
  });
const legacy = (over: Partial<ExchangeRecord> = {}) =>
  exchangeRecord({ era: '2025', protocolVersion: '2025-11-25', callerHash: 'c-old', startedAt: T, ...over });

const base = {
  strategy: 'pool',
  poolIdleTtlSeconds: 10,
  poolMaxAgeSeconds: null,
  keepaliveIntervalSeconds: null,
  initCostSeconds: 1,
  expectedInitSecondsPer100Calls: { 'per-call': 100, pool: 5 },
  expectedStaleFailuresPer100Calls: { 'per-call': 0, pool: 0 },
  strategies: [],
  workload: { source: 'observed', calls: 1, callers: 1, description: 'x' },
  evidence: { used: ['withoutStream'], callers: 1, callersHoldingStream: 0, description: 'x' },
  nextProbeGapsSeconds: [],
  reason: 'the 2025 answer',
} as RecommendationJson;

describe('summarizeEras', () => {
  it('tells the four session models apart', () => {
    expect(summarizeEras([], [], { stateless: null }).sessionModel).toBe('unknown');
    expect(summarizeEras([legacy()], [], { stateless: false }).sessionModel).toBe('sessions');
    expect(summarizeEras([modern()], [], { stateless: null }).sessionModel).toBe('sessionless');
    // A 2025 server that issues no session id is sessionless too.
    expect(summarizeEras([], [], { stateless: true }).sessionModel).toBe('sessionless');
    expect(summarizeEras([legacy(), modern()], [], { stateless: false }).sessionModel).toBe('both');
  });

  it('does not take a refused 2026 request as sessionless service', () => {
    const refused = modern({
      outcome: 'http_error',
      httpStatus: 400,
      rpcErrorCode: -32022,
      upstreamVersions: '2025-11-25',
    });
    const notFound = modern({ outcome: 'rpc_error', rpcErrorCode: -32601, rpcMethod: 'server/discover' });
    const s = summarizeEras([legacy(), refused, notFound], [], { stateless: false });
    expect(s.sessionModel).toBe('sessions');
    expect(s.protocolVersions.answered).toEqual(['2026-07-28', '2025-11-25']);
  });

  it('lists versions answered and asked, newest first, and the callers per revision', () => {
    const s = summarizeEras(
      [
        legacy({ upstreamVersions: '2025-06-18' }),
        legacy({ startedAt: T + 5 }),
        modern({ startedAt: T + 9 }),
      ],
      [{ protocolVersion: '2025-06-18' }],
      { stateless: false },
    );
    expect(s.protocolVersions).toEqual({
      answered: ['2026-07-28', '2025-06-18'],
      asked: ['2026-07-28', '2025-11-25'],
    });
    expect(s.callers).toEqual([
      { callerHash: 'c-new', era: '2026', protocolVersion: '2026-07-28', exchanges: 1, lastSeenAt: T + 9 },
      { callerHash: 'c-old', era: '2025', protocolVersion: '2025-11-25', exchanges: 2, lastSeenAt: T + 5 },
    ]);
  });

  it('measures listen streams and how they ended', () => {
    const listen = (open: number, over: Partial<ExchangeRecord>) =>
      modern({
        rpcMethod: 'subscriptions/listen',
        headersAt: T + 5,
        endedAt: T + 5 + open,
        responseAt: null,
        ...over,
      });
    const s = summarizeEras(
      [
        listen(2_000, { outcome: 'ok' }),
        listen(3_000, { outcome: 'ok', responseAt: T + 3_004 }),
        listen(500, { outcome: 'stream_closed' }),
      ],
      [],
      { stateless: null },
    );
    expect(s.listen).toMatchObject({ streams: 3, endedBy: { client: 1, server: 1, error: 1 } });
    expect(s.listen.openMs.maxMs).toBe(3_000);
    expect(listenEnd({ responseAt: null, outcome: 'ok' })).toBe('client');
  });
});

describe('withEras', () => {
  const entry = { lifetime: { lowerBoundSeconds: 2 }, recommendation: base };

  it('answers a sessionless upstream per-call with no pool TTL and what one call costs', () => {
    const discover = modern({ rpcMethod: 'server/discover', responseAt: T + 8 });
    const r = withEras(entry, summarizeEras([modern(), modern(), discover], [], { stateless: null }));
    expect(r.sessionModel).toBe('sessionless');
    expect(r.lifetime).toMatchObject({ lowerBoundSeconds: 2, sessionModel: 'sessionless' });
    expect(r.recommendation).toMatchObject({
      strategy: 'per-call',
      poolIdleTtlSeconds: null,
      keepaliveIntervalSeconds: null,
    });
    expect(r.recommendation.reason).toBe(
      'sessionless (MCP 2026-07-28): sessions do not exist there, so there is nothing to reuse, pool or keep alive; one call costs 0.04 s (p50 of 2 sessionless calls), with no handshake before it; server/discover costs 0.008 s and a client may cache its answer',
    );
    expect(r.eras).toBeUndefined();
  });

  it('answers an upstream serving both eras once per era, the 2025 answer on top', () => {
    const r = withEras(entry, summarizeEras([legacy(), modern()], [], { stateless: false }));
    expect(r.sessionModel).toBe('both');
    expect(r.recommendation).toBe(base);
    expect(r.eras?.['2025'].recommendation).toBe(base);
    expect(r.eras?.['2026'].recommendation).toMatchObject({ strategy: 'per-call', poolIdleTtlSeconds: null });
  });
});
