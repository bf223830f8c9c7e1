import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { simulateSearch } from '../../test/helpers/searchSimulation.js';
import { anySweeperLower, IdleTimeoutSearch, sweepCover, sweptLower } from './search.js';

/** The search's own budget: 32 sessions per upstream, one of them the baseline's. */
const BUDGET = 31;
const tolerance = (T: number) => Math.max(1, 0.05 * T);

const timeout = fc.double({ min: 1, max: 3600, noNaN: true });
const latency = fc.record({
  openSeconds: fc.double({ min: 0.002, max: 1.2, noNaN: true }),
  checkSeconds: fc.double({ min: 0.001, max: 0.4, noNaN: true }),
});

describe('search on a simulated clock', () => {
  it('pins a clean idle timeout from 1 s to 3,600 s: window holds T, width <= max(1 s, 5% T), time <= 2T + 10 s, <= 31 sessions', () => {
    fc.assert(
      fc.property(timeout, latency, (T, l) => {
        const r = simulateSearch({ upstream: { idleTimeoutSeconds: T }, budget: BUDGET, ...l });
        const w = r.summary.window;
        expect(r.summary.stopReason).toBe('pinned');
        expect(w.overlapping).toBe(false);
        expect(w.lowerSeconds ?? 0).toBeLessThan(T);
        expect(w.upperSeconds).not.toBeNull();
        expect(w.upperSeconds!).toBeGreaterThanOrEqual(T);
        expect(w.upperSeconds! - (w.lowerSeconds ?? 0)).toBeLessThanOrEqual(tolerance(T));
        expect(r.wallSeconds).toBeLessThanOrEqual(2 * T + 10);
        expect(r.sessionsSeen).toBeLessThanOrEqual(BUDGET);
      }),
      { numRuns: 300 },
    );
  });

  it('starts from a passive window that holds T and still meets every bound', () => {
    fc.assert(
      fc.property(timeout, fc.double({ min: 0.2, max: 0.99, noNaN: true }), (T, share) => {
        const r = simulateSearch({
          upstream: { idleTimeoutSeconds: T },
          budget: BUDGET,
          hint: { lowerSeconds: share * T, upperSeconds: null },
        });
        const w = r.summary.window;
        expect(w.lowerSeconds ?? 0).toBeLessThan(T);
        expect(w.upperSeconds!).toBeGreaterThanOrEqual(T);
        expect(w.upperSeconds! - (w.lowerSeconds ?? 0)).toBeLessThanOrEqual(tolerance(T));
        expect(r.wallSeconds).toBeLessThanOrEqual(2 * T + 10);
        expect(r.sessionsSeen).toBeLessThanOrEqual(BUDGET);
      }),
      { numRuns: 150 },
    );
  });

  it('meets a periodic sweeper at every phase: the lower edge is at or below T, or the result says which sweepers it does not hold for', () => {
    let above = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        timeout,
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (T, periodShare, phaseShare) => {
          // Sweepers sweep at least once per timeout, as mcp-proxy does (every min(T, 60 s)).
          const period = Math.max(0.5, periodShare * Math.min(T, 60));
          const r = simulateSearch({
            upstream: {
              idleTimeoutSeconds: T,
              sweep: { periodSeconds: period, phaseSeconds: phaseShare * period },
            },
            budget: BUDGET,
          });
          const { window: w, sweep } = r.summary;
          const lower = w.lowerSeconds ?? 0;
          if (w.upperSeconds !== null) runs++;
          if (w.upperSeconds !== null) expect(w.upperSeconds).toBeGreaterThanOrEqual(T);
          expect(sweep.detected).toBe(w.overlapping);
          if (sweep.detected) expect(r.summary.stopReason).toBe('sweeper');
          // The bound for any sweeper that sweeps at least once per timeout always holds.
          expect(sweep.anySweeperLowerSeconds ?? 0).toBeLessThanOrEqual(T);
          if (lower > T) {
            // Nothing expired up to max-idle: a sweeper spared a session idle past T there.
            if (w.upperSeconds !== null) above++;
            // Only a sweeper the result says the lower edge does not hold for.
            expect(sweep.detected).toBe(false);
            expect(sweep.lowerHoldsForPeriodUpToSeconds).not.toBeNull();
            expect(period).toBeGreaterThan(sweep.lowerHoldsForPeriodUpToSeconds!);
          }
          // Where the result says the lower edge holds, it does.
          const holds = sweep.lowerHoldsForPeriodUpToSeconds;
          if (holds === null || period <= holds) expect(lower).toBeLessThanOrEqual(T);
          expect(r.sessionsSeen).toBeLessThanOrEqual(BUDGET);
        },
      ),
      { numRuns: 300 },
    );
    // Once T is bracketed such misses are rare (decision record 0081): staggered re-tests meet
    // almost every sweeper at a phase that shows it.
    expect(above).toBeLessThanOrEqual(runs * 0.02);
  });

  it("meets mcp-proxy's sweeper (every T up to 60 s) at any phase: flagged, and the lower edge at or below T", () => {
    for (const T of [2, 3, 10, 45]) {
      for (let i = 0; i < 12; i++) {
        const period = Math.min(T, 60);
        const r = simulateSearch({
          upstream: {
            idleTimeoutSeconds: T,
            sweep: { periodSeconds: period, phaseSeconds: (period * i) / 12 },
          },
          openSeconds: 0.05,
          checkSeconds: 0.01,
        });
        expect(r.summary.sweep.detected, `T=${T} phase ${i}/12`).toBe(true);
        expect(r.summary.window.lowerSeconds ?? 0).toBeLessThanOrEqual(T);
        expect(r.summary.window.upperSeconds!).toBeGreaterThanOrEqual(T);
      }
    }
  });

  it('reports no expiry up to max-idle as exactly that', () => {
    const r = simulateSearch({ upstream: { idleTimeoutSeconds: 500 }, maxIdleSeconds: 60 });
    expect(r.summary.stopReason).toBe('max-idle');
    expect(r.summary.window).toMatchObject({ lowerSeconds: 60, upperSeconds: null });
    expect(r.wallSeconds).toBeLessThan(2 * 60 + 10);
  });

  it('keeps a record of the window as it narrowed', () => {
    const r = simulateSearch({ upstream: { idleTimeoutSeconds: 7 } });
    const { steps } = r.summary;
    expect(steps.map((s) => s.phase)).toContain('verify');
    // The upper edge is the expiry at 7.2 s plus an allowance for the upstream's idle clock
    // (0.05 s + 1% of the lower edge; more than the check's 5 ms round trip); the lower edge is
    // widened from the largest survival to 95% of the tolerance below it.
    expect(steps.at(-1)).toMatchObject({ phase: 'done', lowerSeconds: 6.37, upperSeconds: 7.32 });
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.t).toBeGreaterThanOrEqual(steps[i - 1]!.t);
  });
});

describe('IdleTimeoutSearch', () => {
  it('opens its pool at once, then checks the oldest session when its idle gap reaches the target', () => {
    const s = new IdleTimeoutSearch({ startedAt: 100, budget: 8, maxIdleSeconds: 3600 });
    const first = s.plan(100);
    expect(first.actions.filter((a) => a.type === 'open')).toHaveLength(6);
    s.sessionOpened(1, 100.5);
    s.sessionOpened(2, 100.2);
    const waiting = s.plan(100.6);
    expect(waiting.actions).toEqual([]);
    expect(waiting.wakeAt).toBeCloseTo(101.1, 9);
    expect(s.plan(101.1).actions).toEqual([{ type: 'check', session: 2, gapSeconds: 0.9 }]);
    // One check at a time: the next target depends on its answer.
    expect(s.plan(101.2).actions).toEqual([]);
    s.checked(2, { outcome: 'survived', gapSeconds: 0.9, endedAt: 101.15 });
    expect(s.window()).toMatchObject({ lowerSeconds: 0.9, upperSeconds: null });
    const next = s.plan(101.2);
    expect(next.actions).toEqual([]);
    // The next oldest (opened at 100.5) reaches 0.9 + max(0.9 s, 4.5%) = 1.8 s at 102.3.
    expect(next.wakeAt).toBeCloseTo(102.3, 9);
  });

  it('gives up after repeated failures other than expiry', () => {
    const s = new IdleTimeoutSearch({ startedAt: 0, budget: 8, maxIdleSeconds: 3600 });
    s.plan(0);
    for (let id = 1; id <= 4; id++) s.sessionFailed(id, 1);
    expect(s.done).toBe(true);
    expect(s.summary().stopReason).toBe('failures');
  });
});

describe('sweptLower', () => {
  const p = (idleSince: number, gap: number, survived: boolean) => ({
    gapSeconds: gap,
    survived,
    idleSince,
    startedAt: idleSince + gap,
    endedAt: idleSince + gap + 0.01,
  });

  it('is the idle time at which a session survived a sweep bracketed by a survival and an expiry', () => {
    // A survives at 10 (idle since 0), B (idle since 1) is gone at 11: a sweep in (10, 11].
    // C, idle since 4, answers at 12: it was idle 6 s at the sweep and survived it, so T > 6.
    expect(sweptLower([p(0, 10, true), p(1, 10, false), p(4, 8, true)])).toBe(6);
  });

  it('is null without such a bracket', () => {
    expect(sweptLower([p(0, 10, true), p(4, 8, true)])).toBeNull();
    // An expiry of a session idle longer than the survivor shows no sweep.
    expect(sweptLower([p(1, 10, true), p(0, 11.5, false), p(4, 8, true)])).toBeNull();
  });
});

describe('sweepCover and anySweeperLower', () => {
  const survival = (idleSince: number, gap: number) => ({
    gapSeconds: gap,
    survived: true,
    idleSince,
    startedAt: idleSince + gap,
    endedAt: idleSince + gap + 0.01,
  });

  it('is the longest stretch the survivals leave no room for a sweep in, were T at most l', () => {
    // Idle 0-10 and 9-19 s: were T <= 8, no sweep in (8, 10] nor (17, 19]; two stretches of 2 s.
    expect(sweepCover([survival(0, 10), survival(9, 10)], 8)).toBe(2);
    // Idle 0-10 and 1-11 s: (8, 10] and (9, 11] join into 3 s.
    expect(sweepCover([survival(0, 10), survival(1, 10)], 8)).toBe(3);
    expect(sweepCover([survival(0, 10)], 10)).toBe(0);
  });

  it('gives half the largest survival from one survival, more from staggered ones, null from none', () => {
    expect(anySweeperLower([survival(0, 10)])).toBeCloseTo(5, 2);
    const staggered = Array.from({ length: 10 }, (_, i) => survival(i, 10));
    // Were T <= l, (i + l, i + 10] for i = 0..9 join into (l, 19] up to l = 9, which is >= l.
    expect(anySweeperLower(staggered)).toBeCloseTo(9, 2);
    expect(anySweeperLower([])).toBeNull();
  });
});
