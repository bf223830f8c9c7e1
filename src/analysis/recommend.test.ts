import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateLifetime, type LifetimeEstimate, type LifetimeExchange } from './lifetime.js';
import { describeWindow, recommendStrategy, safePoolTtlMs } from './recommend.js';
import {
  conversations,
  isAgentCall,
  judgeReuse,
  type ReplayCall,
  type ReuseEvidence,
  replayStrategies,
} from './replay.js';

type Obs = { gap: number; expired?: boolean; stream?: boolean; age?: number };

/** Exchanges from idle gaps in seconds (age = gap + 0.1 s unless given: one call per session). */
function rows(list: Obs[]): LifetimeExchange[] {
  return list.map(({ gap, expired = false, stream = false, age }) => ({
    source: 'probe',
    sessionHash: 'abcd',
    outcome: expired ? 'session_expired' : 'ok',
    idleGapMs: gap * 1000,
    sessionAgeMs: (age ?? gap + 0.1) * 1000,
    streamAttached: stream,
  }));
}
const survive = (...gaps: number[]): Obs[] => gaps.map((gap) => ({ gap }));
const expire = (...gaps: number[]): Obs[] => gaps.map((gap) => ({ gap, expired: true }));
const SESSION_OPEN = [
  { source: 'probe' as const, adopted: false, initLatencyMs: 800, openedAt: 0, initializedAt: 1000 },
];

/** A clean idle window (30, 40] and a 1 s session open. */
function lifetime(obs: Obs[] = [...survive(10, 20, 30), ...expire(40, 50)]): LifetimeEstimate {
  return estimateLifetime(rows(obs), SESSION_OPEN);
}

const call = (
  callerHash: string | null,
  start: number,
  end: number,
  extra: Partial<ReplayCall> = {},
): ReplayCall => ({ callerHash, startedAt: start * 1000, endedAt: end * 1000, ...extra });

const IDLE_30_40: ReuseEvidence = {
  basis: 'idle',
  window: { lowerMs: 30_000, survivals: 3, expirations: 2 },
};

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

describe('judgeReuse', () => {
  it('safe at or below the lower edge, risky above it once something expired, unknown beyond survivals otherwise', () => {
    expect(judgeReuse(IDLE_30_40, 30_000, 0)).toBe('safe');
    expect(judgeReuse(IDLE_30_40, 35_000, 0)).toBe('risky');
    expect(judgeReuse(IDLE_30_40, 90_000, 0)).toBe('risky');
    const censored: ReuseEvidence = {
      basis: 'idle',
      window: { lowerMs: 6000, survivals: 6, expirations: 0 },
    };
    expect(judgeReuse(censored, 6000, 0)).toBe('safe');
    expect(judgeReuse(censored, 900_000, 0)).toBe('unknown');
    expect(judgeReuse(null, 1, 0)).toBe('unknown');
    const age: ReuseEvidence = { basis: 'age', window: { lowerMs: 30_000, survivals: 1, expirations: 1 } };
    expect(judgeReuse(age, 1, 31_000)).toBe('risky');
    expect(judgeReuse(age, 99_000, 29_000)).toBe('safe');
  });
});

describe('conversations', () => {
  it('keeps each multi-call session apart and chains single-call sessions as their overlap allows', () => {
    const s1 = [call('a', 0, 1, { sessionHash: 's1' }), call('a', 5, 6, { sessionHash: 's1' })];
    const s2 = [call('a', 0.5, 1.5, { sessionHash: 's2' }), call('a', 9, 10, { sessionHash: 's2' })];
    // Per-call sessions: x and y overlap (two chains), z follows x.
    const x = call('a', 20, 22, { sessionHash: 'x' });
    const y = call('a', 21, 23, { sessionHash: 'y' });
    const z = call('a', 30, 31, { sessionHash: 'z' });
    const out = conversations([s1[0]!, s2[0]!, s1[1]!, s2[1]!, x, y, z]);
    expect(out).toEqual([s1, s2, [y, z], [x]].sort((p, q) => p[0]!.startedAt - q[0]!.startedAt));
  });
});

describe('replayStrategies', () => {
  const opts = {
    turnGapMs: 120_000,
    initCostMs: 1000,
    poolIdleTtlMs: 15_000,
    evidenceFor: () => IDLE_30_40,
  };

  it('replays a hand-computed sequence under each strategy', () => {
    const out = replayStrategies(CALLS, opts);
    expect(out.map(({ unknownGapsMs, ...o }) => o)).toEqual([
      {
        strategy: 'per-call',
        idleTtlMs: null,
        keepaliveIntervalMs: null,
        calls: 6,
        sessions: 6,
        riskyReuses: 0,
        unknownReuses: 0,
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
        unknownReuses: 0,
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
        unknownReuses: 0,
        expectedInitSecondsPer100Calls: 83.333,
        expectedStaleFailuresPer100Calls: 0,
      },
    ]);
  });

  it('with keepalive pings the pool keeps one session per caller', () => {
    const out = replayStrategies(CALLS, { ...opts, keepaliveIntervalMs: 15_000 });
    expect(out[2]).toMatchObject({ sessions: 2, riskyReuses: 0, expectedInitSecondsPer100Calls: 33.333 });
  });

  it('an age-limited upstream: risk and pool retirement follow the session age', () => {
    const age: ReuseEvidence = { ...IDLE_30_40, basis: 'age' };
    const out = replayStrategies(CALLS, { ...opts, evidenceFor: () => age }, 'age');
    // per-turn: a reuses at age 11 (safe) and 62 (> 30: risky); b at age 25.5 (safe).
    expect(out[1]).toMatchObject({ sessions: 3, riskyReuses: 1 });
    // pool: a reuses at age 11 only; b at age 25.5 ≥ 15 opens anew.
    expect(out[2]).toMatchObject({ sessions: 5, riskyReuses: 0 });
  });

  it('knows no stale risk when nothing is known about the lifetime', () => {
    const out = replayStrategies(CALLS, { ...opts, poolIdleTtlMs: null, evidenceFor: () => null });
    expect(out.map((o) => o.strategy)).toEqual(['per-call', 'per-turn']);
    expect(out[1]!.expectedStaleFailuresPer100Calls).toBeNull();
    expect(out[1]!.unknownReuses).toBe(3);
  });

  it('a pool never hands one session to two calls at once', () => {
    // Two overlapping calls then a third: the pool needs two sessions, and the third reuses the one freed last.
    const calls = [call('a', 0, 5), call('a', 1, 6), call('a', 8, 9)];
    const out = replayStrategies(calls, { ...opts, evidenceFor: () => IDLE_30_40 });
    expect(out[2]).toMatchObject({ sessions: 2, riskyReuses: 0 });
  });

  it('six parallel sessions of one caller against a 3 s upstream: per-turn reuse is charged per session', () => {
    // Each session calls at gaps 1, 5, 2, 9 s; the six run interleaved, so the merged sequence
    // has sub-second gaps while every session's own gaps reach 9 s.
    const gaps = [1, 5, 2, 9];
    const calls: ReplayCall[] = [];
    for (let s = 0; s < 6; s++) {
      let t = s * 0.3;
      calls.push(call('agent', t, t + 0.1, { sessionHash: `s${s}` }));
      for (const g of gaps) {
        t += 0.1 + g;
        calls.push(call('agent', t, t + 0.1, { sessionHash: `s${s}` }));
      }
    }
    const upstream3s: ReuseEvidence = {
      basis: 'idle',
      window: { lowerMs: 2900, survivals: 10, expirations: 5 },
    };
    const out = replayStrategies(calls, { ...opts, poolIdleTtlMs: 1450, evidenceFor: () => upstream3s });
    // Gaps 5 and 9 of each of the six sessions are above 2.9 s: 12 risky reuses of 30 calls.
    expect(out[1]).toMatchObject({ sessions: 6, riskyReuses: 12, expectedStaleFailuresPer100Calls: 40 });
    expect(out[2]!.riskyReuses).toBe(0);
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
      evidence: { used: ['withoutStream'], callers: 2, callersHoldingStream: 0 },
      nextProbeGapsMs: [],
    });
    expect(r.reason).toBe(
      'sessions expire between 30 s and 40 s idle (judged on sessions without a GET stream); retiring them after 15 s idle stays on the safe side and saves 16.7 s of init per 100 calls over per-call, where per-turn reuse would risk 16.667 stale failures per 100 calls',
    );
  });

  it('picks per-turn when every reuse within a turn stays below the window', () => {
    const calls = [call('a', 0, 0), call('a', 10, 10), call('a', 35, 35), call('a', 600, 600)];
    const r = recommendStrategy(lifetime(), calls, { turnGapMs: 120_000 });
    expect(r).toMatchObject({
      strategy: 'per-turn',
      poolIdleTtlMs: null,
      expectedInitSecondsPer100Calls: { 'per-call': 100, 'per-turn': 50, pool: 75 },
      expectedStaleFailuresPer100Calls: { 'per-call': 0, 'per-turn': 0, pool: 0 },
    });
    expect(r.reason).toMatch(
      /^sessions expire between 30 s and 40 s idle .*saves 50.0 s of init per 100 calls, and a pool saves no more$/,
    );
  });

  it('picks per-call when reuse risks failures and no pool is safe', () => {
    const r = recommendStrategy(lifetime(expire(5, 8, 9)), CALLS, { turnGapMs: 120_000 });
    expect(r).toMatchObject({ strategy: 'per-call', poolIdleTtlMs: null });
    expect(r.reason).toBe(
      'sessions expired after every idle gap tried (the shortest 5 s) (judged on sessions without a GET stream); per-turn reuse would risk 50 stale failures per 100 calls and no safe pool saves any init, so open a fresh session per call',
    );
  });

  it('recommends keepalive pings when the probe proved them', () => {
    const r = recommendStrategy(lifetime(), CALLS, { turnGapMs: 120_000, keepalive: { keepsAlive: true } });
    expect(r).toMatchObject({ strategy: 'pool', poolIdleTtlMs: 15_000, keepaliveIntervalMs: 15_000 });
    expect(r.reason).toContain('pinging every 15 s keeps them alive and saves 66.7 s');
  });

  it('falls back to the default workload without traffic and says so', () => {
    const r = recommendStrategy(lifetime(), [], { turnGapMs: 120_000 });
    expect(r).toMatchObject({
      strategy: 'per-turn',
      workload: { source: 'default', calls: 20, callers: 1 },
      expectedInitSecondsPer100Calls: { 'per-call': 100, 'per-turn': 25, pool: 25 },
    });
    expect(r.reason).toContain('no agent traffic yet, so a default workload');
  });

  it('censored data: no expiry seen is not a failure; nothing is charged and the reason names the next gaps', () => {
    // server-everything or fastmcp probed at 1-6 s: every session survived.
    const r = recommendStrategy(lifetime(survive(1, 2, 3, 4, 5, 6)), [], { turnGapMs: 120_000 });
    for (const o of r.strategies) expect(o.expectedStaleFailuresPer100Calls, o.strategy).toBe(0);
    expect(r.strategies.find((o) => o.strategy === 'per-turn')!.unknownReuses).toBe(15);
    expect(r.nextProbeGapsMs).toEqual([10_000, 20_000]);
    expect(r.reason).toContain('survived idle gaps up to 6 s and none expired');
    expect(r.reason).toContain('probe 10 s and 20 s idle');
    expect(r.reason).not.toMatch(/stale failures|run `mcp-session-probe probe`/);
  });

  it('censored data with traffic between turns: names the long gaps', () => {
    const calls = [call('a', 0, 0), call('a', 900, 900), call('a', 2700, 2700)];
    const r = recommendStrategy(lifetime(survive(1, 6)), calls, { turnGapMs: 3_600_000 });
    expect(r.reason).toContain('probe 15 min and 30 min idle');
  });

  it('held GET streams: a stream-holding caller is judged on with-stream sessions, never on millisecond survivals', () => {
    // fastmcp under an SDK client: before the stream opened only ms gaps; with it, 1, 3 and 5 s.
    const obs: Obs[] = [
      { gap: 0.005 },
      { gap: 0.002 },
      { gap: 1, stream: true },
      { gap: 3, stream: true },
      { gap: 5, stream: true },
    ];
    const calls = [0, 1.1, 4.2, 9.3].map((t) =>
      call('sdk', t, t + 0.1, { sessionHash: 's', streamAttached: t > 0 }),
    );
    const r = recommendStrategy(lifetime(obs), calls, { turnGapMs: 120_000 });
    expect(r.strategy).not.toBe('per-call');
    expect(r.poolIdleTtlMs === null || r.poolIdleTtlMs >= 1000).toBe(true);
    expect(r.evidence).toMatchObject({ used: ['withStream'], callersHoldingStream: 1 });
    expect(r.reason).toContain('with a GET stream held survived idle gaps up to 5 s');
  });

  it('a caller without a stream never borrows with-stream survivals, and ms survivals are no TTL basis', () => {
    const obs: Obs[] = [{ gap: 0.005 }, { gap: 7, stream: true }];
    const calls = [0, 2, 4].map((t) => call('raw', t, t, { sessionHash: 's', streamAttached: false }));
    const r = recommendStrategy(lifetime(obs), calls, { turnGapMs: 120_000 });
    expect(r.strategy).toBe('per-call');
    expect(r.poolIdleTtlMs).toBeNull();
    expect(r.reason).toContain('no pool TTL can rest on survivals of 0.005 s');
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
    const accepting = estimateLifetime(rows(expire(5)), [], { validatesSessionIds: false });
    const r = recommendStrategy(accepting, CALLS, { turnGapMs: 120_000 });
    expect(r.strategy).toBe('per-turn');
    expect(r.reason).toMatch(/accepts made-up session ids/);
  });

  it('says when no lifetime is known yet, and never "run a probe" right after one ran', () => {
    const unknown = estimateLifetime([], []);
    const r = recommendStrategy(unknown, CALLS, { turnGapMs: 120_000 });
    expect(r).toMatchObject({ strategy: 'per-turn', initCostMs: 1000 });
    expect(r.expectedStaleFailuresPer100Calls['per-turn']).toBeNull();
    expect(r.reason).toMatch(/no session lifetime observed yet \(run `mcp-session-probe probe`\)/);
    const after = recommendStrategy(unknown, CALLS, {
      turnGapMs: 120_000,
      lastProbe: { startedAt: '2026-01-01T00:00:00.000Z', status: 'done' },
    });
    expect(after.reason).not.toMatch(/run `mcp-session-probe probe`/);
    expect(after.reason).toContain('the probe of 2026-01-01T00:00:00.000Z (done) observed no idle gap');
  });
});

describe('describeWindow', () => {
  it('says what the data says: survivals above the lower edge are named, and overlap is called a sweeper', () => {
    const e = lifetime([...survive(1, 2, 6), ...expire(4, 7)]);
    expect(e.idle).toMatchObject({ lowerMs: 3000, upperMs: 7000, overlap: 2 });
    expect(describeWindow(e.idle, 'idle', false)).toBe(
      'sessions expire between 3 s and 7 s idle: survivals up to 6 s beside expiries from 4 s show a periodic sweeper, so the window spans the overlap',
    );
  });
});

describe('safePoolTtlMs', () => {
  it('retires at half the lower bound, never from millisecond survivals, and has no TTL without a bound', () => {
    expect(safePoolTtlMs({ lowerMs: 3999, validatesSessionIds: true })).toBe(1999);
    expect(safePoolTtlMs({ lowerMs: 5, validatesSessionIds: true })).toBeNull();
    expect(safePoolTtlMs({ lowerMs: null, validatesSessionIds: true })).toBeNull();
    expect(safePoolTtlMs({ lowerMs: 2500, validatesSessionIds: false })).toBeNull();
  });
});

describe('recommendation properties', () => {
  const gapsS = fc.array(fc.double({ min: 0.01, max: 120, noNaN: true }), { minLength: 1, maxLength: 30 });
  const workload = fc.array(
    fc.tuple(fc.constantFrom('a', 'b'), fc.double({ min: 0, max: 600, noNaN: true })),
    {
      minLength: 1,
      maxLength: 30,
    },
  );
  const toCalls = (w: [string, number][]) => w.map(([c, t]) => call(c, t, t + 0.05));

  it('a sweeper with period P <= T: the recommended TTL stays below T, and adding a survival never makes it unsafe', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 60, noNaN: true }),
        fc.double({ min: 0.1, max: 1, noNaN: true }),
        gapsS,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 30, maxLength: 30 }),
        fc.double({ min: 0.01, max: 120, noNaN: true }),
        workload,
        (t, pFrac, gaps, phases, extra, w) => {
          const p = t * pFrac;
          // Below T always survives, beyond T + P always expires, between: by the sweep's phase.
          const fate = (g: number, phase: number) => g >= t && (g >= t + p || phase < (g - t) / p);
          const obs = gaps.map((g, i) => ({ gap: g, expired: fate(g, phases[i]!) }));
          const before = recommendStrategy(lifetime(obs), toCalls(w), { turnGapMs: 120_000 });
          if (before.poolIdleTtlMs !== null) expect(before.poolIdleTtlMs).toBeLessThan(t * 1000);
          if (fate(extra, phases[0]!)) return;
          const after = recommendStrategy(lifetime([...obs, { gap: extra }]), toCalls(w), {
            turnGapMs: 120_000,
          });
          if (after.poolIdleTtlMs !== null) expect(after.poolIdleTtlMs).toBeLessThan(t * 1000);
        },
      ),
    );
  });

  it('with no expiry seen, no strategy is ever charged a stale failure', () => {
    fc.assert(
      fc.property(gapsS, workload, (gaps, w) => {
        const r = recommendStrategy(lifetime(survive(...gaps)), toCalls(w), { turnGapMs: 120_000 });
        for (const o of r.strategies) expect(o.expectedStaleFailuresPer100Calls).toBe(0);
      }),
    );
  });

  it('the recommended strategy is never charged stale failures and never relies on a reuse beyond what was observed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0.01, max: 120, noNaN: true }), fc.boolean()), { maxLength: 30 }),
        workload,
        (points, w) => {
          const obs = points.map(([gap, expired]) => ({ gap, expired }));
          const r = recommendStrategy(lifetime(obs), toCalls(w), { turnGapMs: 120_000 });
          const chosen = r.strategies.find((o) => o.strategy === r.strategy)!;
          if (points.length === 0) return;
          expect(chosen.expectedStaleFailuresPer100Calls).toBe(0);
          expect(chosen.unknownReuses).toBe(0);
        },
      ),
    );
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
