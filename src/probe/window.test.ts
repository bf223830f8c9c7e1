import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bisectStaggerMs, idleWindow, nextBisectGaps, targetSplit, windowIsNarrow } from './window.js';

const s = (gapSeconds: number) => ({ gapSeconds, survived: true });
const x = (gapSeconds: number) => ({ gapSeconds, survived: false });

describe('idleWindow', () => {
  it('a clean timeout: (largest survival, smallest expiry]', () => {
    expect(idleWindow([s(1), s(2), x(5), x(9)])).toEqual({
      lowerSeconds: 2,
      upperSeconds: 5,
      overlapping: false,
      survivals: 2,
      expirations: 2,
    });
  });

  it('a sweeping server: survivals and expiries overlap, the window spans the overlap', () => {
    // Survived 3.4, expired 3.1: a sweeper. With a sweep at least as frequent as the timeout,
    // the timeout is above half the largest survival: "somewhere between 1.7 and 4".
    expect(idleWindow([s(2), x(3.1), s(3.4), x(4)])).toMatchObject({
      lowerSeconds: 1.7,
      upperSeconds: 4,
      overlapping: true,
    });
  });

  it('nothing expired: no upper edge; everything expired: no lower edge', () => {
    expect(idleWindow([s(1), s(5)])).toMatchObject({ lowerSeconds: 5, upperSeconds: null });
    expect(idleWindow([x(1), x(5)])).toMatchObject({ lowerSeconds: null, upperSeconds: 1 });
  });

  it('property: for a clean timeout T the window always contains T', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 1000, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 2000, noNaN: true }), { minLength: 1, maxLength: 30 }),
        (timeout, gaps) => {
          const w = idleWindow(gaps.map((g) => ({ gapSeconds: g, survived: g < timeout })));
          if (w.lowerSeconds !== null) expect(w.lowerSeconds).toBeLessThan(timeout);
          if (w.upperSeconds !== null) expect(w.upperSeconds).toBeGreaterThanOrEqual(timeout);
          expect(w.overlapping).toBe(false);
        },
      ),
    );
  });
});

describe('bisect steps', () => {
  it('spaces gaps evenly strictly inside the window', () => {
    // One gap, the midpoint, sampled three times (at staggered phases, by the prober).
    expect(nextBisectGaps(idleWindow([s(2), x(5)]), 3)).toEqual([3.5, 3.5, 3.5]);
    expect(nextBisectGaps(idleWindow([x(1)]), 1)).toEqual([0.5]);
    expect(nextBisectGaps(idleWindow([s(1)]), 3)).toEqual([]);
    expect(nextBisectGaps(idleWindow([s(1), x(2)]), 0)).toEqual([]);
  });

  it('stops below max(1 s, 10% of the lower edge)', () => {
    expect(windowIsNarrow(idleWindow([s(2.75), x(3.5)]))).toBe(true);
    expect(windowIsNarrow(idleWindow([s(2), x(5)]))).toBe(false);
    expect(windowIsNarrow(idleWindow([s(300), x(325)]))).toBe(true);
    expect(windowIsNarrow(idleWindow([s(300), x(340)]))).toBe(false);
    expect(windowIsNarrow(idleWindow([s(300)]))).toBe(false);
  });

  it('the acceptance case: idle 3 s, fanout 1,2,5, then two rounds → window ≤ 1 s containing 3 s', () => {
    let points = [s(1), s(2), x(5)];
    for (let round = 0; round < 2; round++) {
      const gaps = nextBisectGaps(idleWindow(points), 3);
      points = [...points, ...gaps.map((g) => ({ gapSeconds: g, survived: g < 3 }))];
    }
    const w = idleWindow(points);
    expect(w.lowerSeconds! < 3 && w.upperSeconds! >= 3).toBe(true);
    expect(windowIsNarrow(w)).toBe(true);
  });

  it('sessions sent to one gap that fare differently are a sweeper, whatever their measured order', () => {
    // mcp-proxy (3 s, swept): 5.5 s sent three times; the survivor idled 5.56, the dead 5.606 and 5.61.
    const points = [
      { gapSeconds: 4.006, survived: true, targetSeconds: 4 },
      { gapSeconds: 5.56, survived: true, targetSeconds: 5.5 },
      { gapSeconds: 5.606, survived: false, targetSeconds: 5.5 },
      { gapSeconds: 5.61, survived: false, targetSeconds: 5.5 },
      { gapSeconds: 7.006, survived: false, targetSeconds: 7 },
    ];
    expect(targetSplit(points)).toBe(true);
    expect(idleWindow(points)).toMatchObject({ lowerSeconds: 2.78, upperSeconds: 5.606, overlapping: true });
    // Without targets (a ladder) the same gaps read as a clean threshold.
    const untargeted = points.map((p) => ({ ...p, targetSeconds: null }));
    expect(targetSplit(untargeted)).toBe(false);
    expect(idleWindow(untargeted)).toMatchObject({
      lowerSeconds: 5.56,
      upperSeconds: 5.606,
      overlapping: false,
    });
  });

  it("staggers a round over the window's upper edge", () => {
    expect(bisectStaggerMs(7, 3)).toBe(1167);
    expect(bisectStaggerMs(7, 1)).toBe(0);
  });
});
