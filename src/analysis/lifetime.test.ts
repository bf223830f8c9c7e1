import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  estimateLifetime,
  type LifetimeExchange,
  type LifetimeSession,
  summarizeLatency,
  windowOf,
} from './lifetime.js';

type Obs = { gap: number; age?: number | null; expired?: boolean; stream?: boolean };

/** Exchanges from (idle gap s, age s) pairs; age defaults to gap + 0.1 s (one call per session). */
function exchanges(list: Obs[], source: 'proxy' | 'probe' = 'probe'): LifetimeExchange[] {
  return list.map(({ gap, age, expired = false, stream = false }) => ({
    source,
    sessionHash: 'abcd',
    outcome: expired ? 'session_expired' : 'ok',
    idleGapMs: gap * 1000,
    sessionAgeMs: age === null ? null : (age ?? gap + 0.1) * 1000,
    streamAttached: stream,
  }));
}
const survive = (...gaps: number[]): Obs[] => gaps.map((gap) => ({ gap }));
const expire = (...gaps: number[]): Obs[] => gaps.map((gap) => ({ gap, expired: true }));

describe('estimateLifetime', () => {
  it('clean idle timeout: (largest survival, smallest expiry], basis idle even when age moves with the gap', () => {
    const e = estimateLifetime(exchanges([...survive(5, 10, 20, 29), ...expire(31, 40, 60)]), []);
    expect(e).toMatchObject({
      basis: 'idle',
      lowerMs: 29_000,
      upperMs: 31_000,
      survivals: 4,
      expirations: 3,
    });
    expect(e.idle.overlap).toBe(0);
    expect(e.age).toMatchObject({ lowerMs: 29_100, upperMs: 31_100, overlap: 0 });
  });

  it('clean idle timeout on long sessions: old sessions survive short gaps, so age does not explain it', () => {
    const obs: Obs[] = [
      { gap: 10, age: 100 },
      { gap: 20, age: 300 },
      { gap: 29, age: 29 },
      { gap: 31, age: 31, expired: true },
      { gap: 45, age: 50, expired: true },
    ];
    const e = estimateLifetime(exchanges(obs), []);
    expect(e).toMatchObject({ basis: 'idle', lowerMs: 29_000, upperMs: 31_000 });
    // Survivals at ages 100 and 300 lie above the first expiry (31) and both expiries below them: 2 + 2.
    // With that much overlap (P > T if it were a sweeper) no age is known safe.
    expect(e.age).toMatchObject({ lowerMs: null, upperMs: null, overlap: 4 });
  });

  it('periodic sweeper: survivals and expiries overlap and the window spans the overlap', () => {
    const obs: Obs[] = [
      { gap: 1, age: 50 },
      { gap: 2.5, age: 10 },
      { gap: 3.2, age: 8 },
      { gap: 2.2, age: 5, expired: true },
      { gap: 3, age: 20, expired: true },
      { gap: 4.5, age: 6, expired: true },
    ];
    const e = estimateLifetime(exchanges(obs), []);
    // Half the largest survival (3.2 s): a sweeper with P <= T has T above it.
    expect(e).toMatchObject({ basis: 'idle', lowerMs: 1600, upperMs: 4500, survivals: 3, expirations: 3 });
    expect(e.idle.overlap).toBe(4);
    expect(e.age.upperMs).toBeNull();
  });

  it('absolute lifetime: expiries at short gaps but a fixed age give basis age and the age window', () => {
    const obs: Obs[] = [
      { gap: 10, age: 10 },
      { gap: 10, age: 20 },
      { gap: 10, age: 30 },
      { gap: 10, age: 40 },
      { gap: 10, age: 50 },
      { gap: 10, age: 60, expired: true },
      { gap: 5, age: 65, expired: true },
    ];
    const e = estimateLifetime(exchanges(obs), []);
    expect(e).toMatchObject({ basis: 'age', lowerMs: 50_000, upperMs: 60_000, survivals: 5, expirations: 2 });
    expect(e.idle).toMatchObject({ lowerMs: null, upperMs: null });
  });

  it('no expiries: the lower bound is the largest survival and the upper bound is open', () => {
    const e = estimateLifetime(exchanges(survive(1, 5, 10)), []);
    expect(e).toMatchObject({
      basis: 'none_observed',
      lowerMs: 10_000,
      upperMs: null,
      survivals: 3,
      expirations: 0,
    });
  });

  it('neither explanation fits: inconsistent, the idle window kept', () => {
    const obs: Obs[] = [
      { gap: 1, age: 1 },
      { gap: 10, age: 10 },
      { gap: 5, age: 5, expired: true },
    ];
    const e = estimateLifetime(exchanges(obs), []);
    // A survival at 10 s beside an expiry at 5 s: nothing below 5 s is known safe.
    expect(e).toMatchObject({ basis: 'inconsistent', lowerMs: null, upperMs: null });
  });

  it('stateless upstream: no lifetime at all, whatever the rows say', () => {
    const rows = exchanges(survive(1, 2)).map((x) => ({ ...x, sessionHash: null }));
    const e = estimateLifetime(rows, [], { stateless: true });
    expect(e).toMatchObject({
      stateless: true,
      basis: 'none_observed',
      lowerMs: null,
      upperMs: null,
      survivals: 0,
    });
  });

  it('accept-any upstream: survivals prove nothing, so no lower bound', () => {
    const e = estimateLifetime(exchanges(survive(10, 100, 1000)), [], { validatesSessionIds: false });
    expect(e).toMatchObject({
      validatesSessionIds: false,
      basis: 'none_observed',
      lowerMs: null,
      upperMs: null,
      survivals: 0,
      expirations: 0,
    });
  });

  it('keeps survivals with a GET stream attached apart', () => {
    const obs: Obs[] = [
      ...survive(5, 10),
      ...expire(30),
      { gap: 60, stream: true },
      { gap: 120, stream: true },
    ];
    const e = estimateLifetime(exchanges(obs), []);
    expect(e).toMatchObject({
      basis: 'idle',
      lowerMs: 10_000,
      upperMs: 30_000,
      survivals: 2,
      expirations: 1,
    });
    expect(e.withStream).toMatchObject({ lowerMs: 120_000, upperMs: null, survivals: 2, expirations: 0 });
  });

  it('ignores control requests, unknown gaps and outcomes that say nothing about the session; counts by source', () => {
    const base = exchanges(survive(5));
    const rows: LifetimeExchange[] = [
      ...base,
      ...exchanges(expire(30), 'proxy'),
      { ...base[0]!, idleGapMs: 900_000, control: true },
      { ...base[0]!, idleGapMs: null },
      { ...base[0]!, idleGapMs: 600_000, outcome: 'timeout' },
      { ...base[0]!, idleGapMs: 600_000, outcome: 'auth' },
      { ...base[0]!, idleGapMs: 1_000, outcome: 'rpc_error' },
    ];
    const e = estimateLifetime(rows, []);
    expect(e).toMatchObject({ lowerMs: 5000, upperMs: 30_000, survivals: 2, expirations: 1 });
    expect(e.observations).toEqual({ proxy: 1, probe: 2 });
  });

  it('init cost: p50/p90 of the initialize round trip and of the full open, adopted sessions left out', () => {
    const sessions: LifetimeSession[] = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000].map((ms, i) => ({
      source: 'proxy',
      adopted: false,
      initLatencyMs: ms,
      openedAt: i * 10_000,
      initializedAt: i * 10_000 + ms + 50,
    }));
    sessions.push({ source: 'proxy', adopted: true, initLatencyMs: null, openedAt: 0, initializedAt: null });
    const e = estimateLifetime([], sessions);
    expect(e.initLatency).toEqual({ p50Ms: 500, p90Ms: 900, n: 10 });
    expect(e.sessionOpen).toEqual({ p50Ms: 550, p90Ms: 950, n: 10 });
  });
});

describe('windowOf', () => {
  it('overlap within clock noise is no sweeper; beyond it, the lower edge drops to half the largest survival', () => {
    // 3010 survived, 3005 expired: the clocks disagree by 5 ms.
    expect(
      windowOf(
        [
          [2000, false],
          [3010, false],
          [3005, true],
          [3500, true],
        ],
        50,
      ),
    ).toMatchObject({
      lowerMs: 2000,
      upperMs: 3500,
      sweeping: false,
      overlap: 2,
    });
    // mcp-proxy, 3 s swept every 3 s: 5.2 s survived beside an expiry at 3.6 s.
    expect(
      windowOf(
        [
          [1000, false],
          [2000, false],
          [5200, false],
          [3600, true],
          [7000, true],
        ],
        50,
      ),
    ).toMatchObject({
      lowerMs: 2600,
      upperMs: 7000,
      sweeping: true,
    });
  });

  it('property: the lower edge never exceeds the smallest expiry, the upper edge is never below the largest survival', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.boolean()), { maxLength: 60 }),
        (points) => {
          const w = windowOf(points, 50);
          const expired = points.filter(([, x]) => x).map(([g]) => g);
          const survived = points.filter(([, x]) => !x).map(([g]) => g);
          if (w.lowerMs !== null && expired.length > 0) expect(w.lowerMs).toBeLessThan(Math.min(...expired));
          if (w.upperMs !== null && survived.length > 0)
            expect(w.upperMs).toBeGreaterThan(Math.max(...survived));
        },
      ),
    );
  });

  it('is empty without points', () => {
    expect(windowOf([])).toEqual({
      lowerMs: null,
      upperMs: null,
      survivals: 0,
      expirations: 0,
      overlap: 0,
      sweeping: false,
      maxSurvivalMs: null,
      minExpiryMs: null,
    });
  });
  it('has no lower bound when the first gap already expired', () => {
    expect(windowOf([[5, true]])).toMatchObject({ lowerMs: null, upperMs: 5 });
  });
});

describe('summarizeLatency', () => {
  it('uses nearest rank', () => {
    expect(summarizeLatency([3, 1, 2])).toEqual({ p50Ms: 2, p90Ms: 3, n: 3 });
    expect(summarizeLatency([])).toEqual({ p50Ms: null, p90Ms: null, n: 0 });
  });
});

describe('estimateLifetime properties', () => {
  const gapsMs = fc.array(fc.integer({ min: 0, max: 3_600_000 }), { minLength: 1, maxLength: 60 });

  it('a clean idle timeout T always lies in (lower, upper]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_600_000 }), gapsMs, (timeoutMs, gaps) => {
        // Exact integer milliseconds: no float round trip through seconds.
        const rows = exchanges(gaps.map((g) => ({ gap: 0, expired: g >= timeoutMs }))).map((row, i) => ({
          ...row,
          idleGapMs: gaps[i]!,
        }));
        const e = estimateLifetime(rows, []);
        if (e.lowerMs !== null) expect(e.lowerMs).toBeLessThan(timeoutMs);
        if (e.upperMs !== null) expect(e.upperMs).toBeGreaterThanOrEqual(timeoutMs);
        expect(e.idle.overlap).toBe(0);
        expect(e.basis).toBe(gaps.some((g) => g >= timeoutMs) ? 'idle' : 'none_observed');
      }),
    );
  });

  it('whatever the data: nothing expired at or below the lower bound, nothing survived at or above the upper', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.boolean()), { maxLength: 60 }),
        (points) => {
          const w = windowOf(points);
          const survived = points.filter(([, x]) => !x).map(([g]) => g);
          const expired = points.filter(([, x]) => x).map(([g]) => g);
          if (w.lowerMs !== null) {
            // An observed survival, or (a sweeper) half the largest one.
            expect(survived.includes(w.lowerMs) || w.lowerMs === Math.max(...survived) / 2).toBe(true);
            expect(expired.every((g) => g > w.lowerMs!)).toBe(true);
          }
          if (w.upperMs !== null) {
            expect(expired).toContain(w.upperMs);
            expect(survived.every((g) => g < w.upperMs!)).toBe(true);
          }
          if (w.lowerMs !== null && w.upperMs !== null) expect(w.lowerMs).toBeLessThan(w.upperMs);
        },
      ),
    );
  });
});
