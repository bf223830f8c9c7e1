import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchangeRecord } from '../../test/helpers/records.js';
import type { Report } from '../analysis/index.js';
import type { ExchangeRecord, SessionRecord } from '../sessions/types.js';
import { openStore } from '../store/index.js';
import type { ObservationStore } from '../store/types.js';
import { reportApi } from './report.js';

const T0 = 1_700_000_000_000;

function exchange(over: Partial<ExchangeRecord>): ExchangeRecord {
  return exchangeRecord({ source: 'probe', rpcId: '2', startedAt: T0, endedAt: T0, ...over });
}

function session(hash: string, initLatencyMs: number): SessionRecord {
  return {
    upstream: 'linear',
    source: 'probe',
    sessionHash: hash,
    transport: 'streamable-http',
    openedAt: T0,
    adopted: false,
    initLatencyMs,
    initializedAt: T0 + initLatencyMs + 100,
    protocolVersion: null,
    clientName: null,
    clientVersion: null,
    serverName: null,
    serverVersion: null,
    exchanges: 2,
    lastActivityAt: T0,
    endedAt: null,
    endReason: null,
  };
}

let store: ObservationStore;
beforeEach(async () => {
  store = await openStore('sqlite::memory:');
  await store.migrate();
  await store.upsertUpstreams([
    {
      id: 'linear',
      name: 'Linear',
      url: 'https://mcp.linear.app/mcp',
      transport: 'streamable-http',
      stateless: null,
      validatesSessionIds: null,
    },
    {
      id: 'plain',
      name: 'Plain',
      url: 'http://127.0.0.1:1/mcp',
      transport: 'streamable-http',
      stateless: null,
      validatesSessionIds: null,
    },
  ]);
  await store.setUpstreamFlags('plain', { stateless: true });
  await store.setUpstreamFlags('linear', { validatesSessionIds: true });
  // Probe: survived 5 s and 10 s idle, expired at 31 s (spec 404). Sessions open in 0.5, 0.6, 0.7 s.
  await store.write([
    { type: 'session', session: session('s1', 400) },
    { type: 'session', session: session('s2', 500) },
    { type: 'session', session: session('s3', 600) },
    { type: 'exchange', exchange: exchange({ sessionHash: 's1', idleGapMs: 5000, sessionAgeMs: 5100 }) },
    { type: 'exchange', exchange: exchange({ sessionHash: 's2', idleGapMs: 10_000, sessionAgeMs: 10_100 }) },
    {
      type: 'exchange',
      exchange: exchange({
        sessionHash: 's3',
        idleGapMs: 31_000,
        sessionAgeMs: 31_100,
        httpStatus: 404,
        outcome: 'session_expired',
        confidence: 'spec',
      }),
    },
    // An agent: three calls 12 s apart.
    ...[0, 12_000, 24_000].map((at) => ({
      type: 'exchange' as const,
      exchange: exchange({
        source: 'proxy',
        callerHash: 'c1',
        rpcMethod: 'tools/call',
        toolName: 'search',
        startedAt: T0 + at,
        endedAt: T0 + at,
      }),
    })),
  ]);
  await store.saveProbeRun({
    id: 'run-1',
    status: 'done',
    mode: 'fanout',
    upstreams: ['linear'],
    startedAt: T0,
    finishedAt: T0 + 60_000,
    heartbeatAt: T0 + 60_000,
    result: {
      results: [
        { upstream: 'linear', validatesSessionIds: true, keepalive: { keptAlive: true, intervalSeconds: 4 } },
      ],
    },
  });
  await store.saveProbeRun({
    id: 'run-plain',
    status: 'done',
    mode: 'fanout',
    upstreams: ['plain'],
    startedAt: T0,
    finishedAt: T0 + 1000,
    heartbeatAt: T0 + 1000,
    result: { results: [{ upstream: 'plain', stateless: true, perCallCostSeconds: 0.25 }] },
  });
});
afterEach(() => store.close());

const app = () =>
  reportApi({ store, config: { analysis: { turnGapSeconds: 120 } }, now: () => T0 + 3_600_000 });

describe('GET /api/upstreams/:id/lifetime', () => {
  it('answers the docs/contract.md lifetime fields', async () => {
    const res = await app().request('/api/upstreams/linear/lifetime');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      upstream: 'linear',
      lowerBoundSeconds: 10,
      upperBoundSeconds: 31,
      basis: 'idle',
      survivals: 2,
      expirations: 1,
      validatesSessionIds: true,
      stateless: false,
      initLatencySeconds: { p50: 0.5, p90: 0.6, n: 3 },
      sessionOpenSeconds: { p50: 0.6, p90: 0.7, n: 3 },
      withStream: { lowerBoundSeconds: null, upperBoundSeconds: null, survivals: 0, expirations: 0 },
      observations: { proxy: 0, probe: 3 },
    });
  });

  it('404s an unknown upstream, naming it and the way out', async () => {
    const res = await app().request('/api/upstreams/nope/lifetime');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: 'upstream "nope" is not known; GET /api/upstreams lists the configured ones',
    });
  });
});

describe('GET /api/report', () => {
  it('recommends a keepalive pool where pings were proven, per-call for a stateless upstream', async () => {
    const res = await app().request('/api/report');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Report;
    expect(body.generatedAt).toBe(new Date(T0 + 3_600_000).toISOString());
    expect(body.upstreams.map((u) => u.id)).toEqual(['linear', 'plain']);
    const [linear, plain] = body.upstreams;
    // Gaps of 12 s exceed the 10 s lower bound: per-turn risks 2 stale failures in 3 calls; a pool
    // retiring at 5 s idle would reopen each time, but proven pings every 5 s keep one session alive.
    expect(linear!.recommendation).toMatchObject({
      strategy: 'pool',
      poolIdleTtlSeconds: 5,
      keepaliveIntervalSeconds: 5,
      initCostSeconds: 0.6,
      expectedInitSecondsPer100Calls: { 'per-call': 60, 'per-turn': 20, pool: 20 },
      expectedStaleFailuresPer100Calls: { 'per-call': 0, 'per-turn': 66.667, pool: 0 },
      workload: { source: 'observed', calls: 3, callers: 1 },
    });
    expect(linear!.lastProbe).toEqual({
      id: 'run-1',
      status: 'done',
      startedAt: new Date(T0).toISOString(),
      mode: 'fanout',
    });
    expect(plain!.lifetime).toMatchObject({
      stateless: true,
      basis: 'none_observed',
      lowerBoundSeconds: null,
    });
    // No agent traffic on the stateless upstream: the probe's fresh-session call is the cost of a call.
    expect(plain!.recommendation.reason).toBe(
      'stateless upstream: there is no session to keep, so every call stands alone and costs 0.25 s (p50 of 1 call) (no agent traffic yet, so a default workload: 5 turns of 4 calls 10 s apart, turns 15 min apart)',
    );
    expect(plain!.recommendation).toMatchObject({
      strategy: 'per-call',
      poolIdleTtlSeconds: null,
      workload: { source: 'default' },
    });
  });

  it('narrows to one upstream with ?upstream= and 404s an unknown one', async () => {
    const one = (await (await app().request('/api/report?upstream=plain')).json()) as {
      upstreams: Array<{ id: string }>;
    };
    expect(one.upstreams.map((u) => u.id)).toEqual(['plain']);
    expect((await app().request('/api/report?upstream=nope')).status).toBe(404);
  });
});
