import { describe, expect, it } from 'vitest';
import { estimateLifetime, type LifetimeEstimate } from './lifetime.js';
import { recommendStrategy, safePoolTtlMs } from './recommend.js';
import { isAgentCall, type ReplayCall, replayStrategies } from './replay.js';

/** A lifetime with a clean idle window (30 s, 40 s] and a 1 s session open. */
function lifetime(overrides: Partial<LifetimeEstimate> = {}): LifetimeEstimate {
  const base = estimateLifetime(
    [],
    [{ source: 'probe', adopted: false, initLatencyMs: 800, openedAt: 0, initializedAt: 1000 }],
  );
  return {
    ...base,
    basis: 'idle',
    lowerMs: 30_000,
    upperMs: 40_000,
    survivals: 4,
    expirations: 2,
    ...overrides,
  };
}

const call = (callerHash: string | null, start: number, end: number): ReplayCall => ({
  callerHash,
  startedAt: start * 1000,
  endedAt: end * 1000,
});

/**
 * Caller a: gaps 10 s, 50 s, 337 s. Caller b: gap 25 s. Six calls.
 * Hand-computed with turn gap 120 s, init 1 s, window (30, 40], pool TTL 15 s (30 × 0.5):
 *   per-call: 6 sessions → 100 s per 100 calls, no stale risk.
 *   per-turn: a opens at 0 and 400 (reuses at gap 10 safe, gap 50 > 30 risky); b reuses at 25 (safe)
 *             → 3 sessions → 50 s; 1 risky reuse of 6 → 16.667 per 100.
 *   pool 15 s: a reuses only at gap 10; b's gap 25 ≥ 15 opens anew → 5 sessions → 83.333 s, no risk.
 *   pool 15 s + keepalive: one session per caller → 2 → 33.333 s; pings cap the gap the upstream sees at 15 s.
 */
const CALLS: ReplayCall[] = [
  call('a', 0, 1),
  call('b', 0, 0.5),
  call('a', 11, 12),
  call('b', 25.5, 26),
  call('a', 62, 63),
  call('a', 400, 401),
];

describe('replayStrategies', () => {
  it('replays a hand-computed sequence under each strategy', () => {
    const out = replayStrategies(CALLS, lifetime(), {
      turnGapMs: 120_000,
      initCostMs: 1000,
      poolIdleTtlMs: 15_000,
    });
    expect(out).toEqual([
      {
        strategy: 'per-call',
        idleTtlMs: null,
        keepaliveIntervalMs: null,
        calls: 6,
        sessions: 6,
        riskyReuses: 0,
        expectedInitSecondsPer100Calls: 100,
        expectedStaleFailuresPer100Calls: 0,
      },
      {
        strategy: 'per-turn',
        idleTtlMs: null,
        keepaliveIntervalMs: null,
        calls: 6,
        sessions: 3,
        riskyReuses: 1,
        expectedInitSecondsPer100Calls: 50,
        expectedStaleFailuresPer100Calls: 16.667,
      },
      {
        strategy: 'pool',
        idleTtlMs: 15_000,
        keepaliveIntervalMs: null,
        calls: 6,
        sessions: 5,
        riskyReuses: 0,
        expectedInitSecondsPer100Calls: 83.333,
        expectedStaleFailuresPer100Calls: 0,
      },
    ]);
  });

  it('with keepalive pings the pool keeps one session per caller', () => {
    const out = replayStrategies(CALLS, lifetime(), {
      turnGapMs: 120_000,
      initCostMs: 1000,
      poolIdleTtlMs: 15_000,
      keepaliveIntervalMs: 15_000,
    });
    expect(out[2]).toMatchObject({ sessions: 2, riskyReuses: 0, expectedInitSecondsPer100Calls: 33.333 });
  });

  it('an age-limited upstream: risk and pool retirement follow the session age', () => {
    // Window (30, 40] of age; pool retires at 15 s of age. a: ages 11 (reuse), 62 (new), 400 (new).
    const out = replayStrategies(CALLS, lifetime({ basis: 'age' }), {
      turnGapMs: 120_000,
      initCostMs: 1000,
      poolIdleTtlMs: 15_000,
    });
    // per-turn: a reuses at age 11 (safe) and 62 (> 30: risky); b at age 25.5 (safe).
    expect(out[1]).toMatchObject({ sessions: 3, riskyReuses: 1 });
    // pool: a reuses at age 11 only; b at age 25.5 ≥ 15 opens anew.
    expect(out[2]).toMatchObject({ sessions: 5, riskyReuses: 0 });
  });

  it('knows no stale risk when nothing is known about the lifetime', () => {
    const unknown = lifetime({
      basis: 'none_observed',
      lowerMs: null,
      upperMs: null,
      survivals: 0,
      expirations: 0,
    });
    const out = replayStrategies(CALLS, unknown, {
      turnGapMs: 120_000,
      initCostMs: 1000,
      poolIdleTtlMs: null,
    });
    expect(out.map((o) => o.strategy)).toEqual(['per-call', 'per-turn']);
    expect(out[1]!.expectedStaleFailuresPer100Calls).toBeNull();
  });
});

describe('recommendStrategy', () => {
  it('prefers the pool without stale risk over per-turn reuse that risks failures', () => {
    const r = recommendStrategy(lifetime(), CALLS, { turnGapMs: 120_000 });
    expect(r).toMatchObject({
      strategy: 'pool',
      poolIdleTtlMs: 15_000,
      keepaliveIntervalMs: null,
      initCostMs: 1000,
      expectedInitSecondsPer100Calls: { 'per-call': 100, 'per-turn': 50, pool: 83.333 },
      expectedStaleFailuresPer100Calls: { 'per-call': 0, 'per-turn': 16.667, pool: 0 },
      workload: { source: 'observed', calls: 6, callers: 2 },
    });
    expect(r.reason).toBe(
      'sessions expire between 30 s and 40 s idle; retiring them after 15 s idle stays on the safe side and saves 16.7 s of init per 100 calls over per-call, where per-turn reuse would risk 16.667 stale failures per 100 calls',
    );
  });

  it('picks per-turn when every reuse within a turn stays below the window', () => {
    // Gaps 10 s and 25 s, all below the 30 s lower bound: per-turn opens 2 sessions, the 15 s pool 3.
    const calls = [call('a', 0, 0), call('a', 10, 10), call('a', 35, 35), call('a', 600, 600)];
    const r = recommendStrategy(lifetime(), calls, { turnGapMs: 120_000 });
    expect(r).toMatchObject({
      strategy: 'per-turn',
      poolIdleTtlMs: null,
      expectedInitSecondsPer100Calls: { 'per-call': 100, 'per-turn': 50, pool: 75 },
      expectedStaleFailuresPer100Calls: { 'per-call': 0, 'per-turn': 0, pool: 0 },
    });
    expect(r.reason).toBe(
      'sessions expire between 30 s and 40 s idle; reusing a session within a turn never outlasts that and saves 50.0 s of init per 100 calls, and a pool saves no more',
    );
  });

  it('picks per-call when reuse risks failures and no pool is safe', () => {
    const firstGapExpired = lifetime({ lowerMs: null, upperMs: 5000, survivals: 0, expirations: 3 });
    const r = recommendStrategy(firstGapExpired, CALLS, { turnGapMs: 120_000 });
    expect(r).toMatchObject({ strategy: 'per-call', poolIdleTtlMs: null });
    // Every per-turn reuse (3 of 6 calls) is above the missing lower bound.
    expect(r.reason).toBe(
      'sessions expire between 0 s and 5 s idle; per-turn reuse would risk 50 stale failures per 100 calls and no safe pool saves any init, so open a fresh session per call',
    );
  });

  it('recommends a pool with a TTL on the safe side and keepalive pings when the probe proved them', () => {
    const r = recommendStrategy(lifetime(), CALLS, { turnGapMs: 120_000, keepalive: { keepsAlive: true } });
    expect(r).toMatchObject({ strategy: 'pool', poolIdleTtlMs: 15_000, keepaliveIntervalMs: 15_000 });
    expect(r.poolIdleTtlMs!).toBeLessThanOrEqual(lifetime().lowerMs!);
    expect(r.reason).toBe(
      'sessions expire between 30 s and 40 s idle; pinging every 15 s keeps them alive and saves 66.7 s of init per 100 calls over per-call, where per-turn reuse would risk 16.667 stale failures per 100 calls',
    );
  });

  it('recommends a pool when the calls come at gaps a pool can bridge but turns cannot', () => {
    // Calls 12 s apart with a 10 s turn gap: every call starts a new turn, while the 15 s pool reuses.
    const calls = [call('a', 0, 0), call('a', 12, 12), call('a', 24, 24), call('a', 36, 36)];
    const r = recommendStrategy(lifetime(), calls, { turnGapMs: 10_000 });
    expect(r).toMatchObject({
      strategy: 'pool',
      poolIdleTtlMs: 15_000,
      expectedInitSecondsPer100Calls: { 'per-call': 100, 'per-turn': 100, pool: 25 },
    });
    expect(r.reason).toBe(
      'sessions expire between 30 s and 40 s idle; retiring them after 15 s idle stays on the safe side and saves 75.0 s of init per 100 calls over per-call',
    );
  });

  it('falls back to the default workload without traffic and says so', () => {
    const r = recommendStrategy(lifetime(), [], { turnGapMs: 120_000 });
    // 5 turns of 4 calls 10 s apart: per-turn and the 15 s pool both open 5 sessions of 20 calls.
    expect(r).toMatchObject({
      strategy: 'per-turn',
      workload: { source: 'default', calls: 20, callers: 1 },
      expectedInitSecondsPer100Calls: { 'per-call': 100, 'per-turn': 25, pool: 25 },
    });
    expect(r.reason).toContain('no agent traffic yet, so a default workload');
  });

  it('stateless upstreams: per-call, with the cost of a call', () => {
    const stateless = estimateLifetime([], [], { stateless: true });
    const r = recommendStrategy(stateless, CALLS, {
      turnGapMs: 120_000,
      callLatency: { p50Ms: 142, p90Ms: 300, n: 6 },
    });
    expect(r).toMatchObject({ strategy: 'per-call', poolIdleTtlMs: null });
    expect(r.reason).toBe(
      'stateless upstream: there is no session to keep, so every call stands alone and costs 0.142 s (p50 of 6 calls)',
    );
  });

  it('accept-any upstreams: per-turn, never a pool', () => {
    const r = recommendStrategy(lifetime({ validatesSessionIds: false, lowerMs: null }), CALLS, {
      turnGapMs: 120_000,
    });
    expect(r.strategy).toBe('per-turn');
    expect(r.reason).toMatch(/accepts made-up session ids/);
  });

  it('says when no lifetime is known yet', () => {
    const unknown = estimateLifetime([], []);
    const r = recommendStrategy(unknown, CALLS, { turnGapMs: 120_000 });
    expect(r).toMatchObject({ strategy: 'per-turn', initCostMs: 1000 });
    expect(r.expectedStaleFailuresPer100Calls['per-turn']).toBeNull();
    expect(r.reason).toMatch(/no session lifetime observed yet/);
  });
});

describe('safePoolTtlMs', () => {
  it('retires at half the lower bound (a sweeper with P <= T), and has no TTL without a bound', () => {
    expect(safePoolTtlMs({ lowerMs: 3999, validatesSessionIds: true })).toBe(1999);
    expect(safePoolTtlMs({ lowerMs: null, validatesSessionIds: true })).toBeNull();
    expect(safePoolTtlMs({ lowerMs: 2500, validatesSessionIds: false })).toBeNull();
  });
});

describe('isAgentCall', () => {
  it('counts proxied work, not the handshake, notifications, pings or probes', () => {
    const e = (rpcMethod: string | null, source: 'proxy' | 'probe' = 'proxy', httpMethod = 'POST') => ({
      source,
      httpMethod,
      rpcMethod,
    });
    expect(isAgentCall(e('tools/call'))).toBe(true);
    expect(isAgentCall(e('tools/list'))).toBe(true);
    expect(isAgentCall(e('initialize'))).toBe(false);
    expect(isAgentCall(e('notifications/initialized'))).toBe(false);
    expect(isAgentCall(e('ping'))).toBe(false);
    expect(isAgentCall(e('tools/list', 'probe'))).toBe(false);
    expect(isAgentCall(e(null, 'proxy', 'GET'))).toBe(false);
  });
});
