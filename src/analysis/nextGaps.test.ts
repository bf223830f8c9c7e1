import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatGap, nextGapsToProbe, probeAdvice, roundGapUp } from './nextGaps.js';

describe('nextGapsToProbe', () => {
  it('the median and the largest unknown gap, rounded up to round values', () => {
    expect(nextGapsToProbe([900_000, 900_000, 1_800_000], 6000)).toEqual([900_000, 1_800_000]);
    expect(nextGapsToProbe([12_000, 40_000, 700_000], 6000)).toEqual([45_000, 900_000]);
  });
  it('one distinct gap gets a second, larger one', () => {
    expect(nextGapsToProbe([10_000, 10_000], 6000)).toEqual([10_000, 20_000]);
  });
  it('without unknown reuses: two and five times the largest survival', () => {
    expect(nextGapsToProbe([], 6000)).toEqual([15_000, 30_000]);
    expect(nextGapsToProbe([], null)).toEqual([]);
  });
  it('property: every gap is round, above the largest survival, ascending', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 80_000_000 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        (unknown, survived) => {
          const gaps = nextGapsToProbe(
            unknown.filter((g) => g > survived),
            survived,
          );
          for (const g of gaps) {
            expect(g).toBeGreaterThan(survived);
            expect(roundGapUp(g)).toBe(g);
          }
          expect([...gaps].sort((a, b) => a - b)).toEqual(gaps);
        },
      ),
    );
  });
});

describe('formatGap and probeAdvice', () => {
  it('reads as a person would say it', () => {
    expect(formatGap(30_000)).toBe('30 s');
    expect(formatGap(900_000)).toBe('15 min');
    expect(formatGap(5_400_000)).toBe('1.5 h');
    expect(probeAdvice([900_000, 1_800_000])).toBe('probe 15 min and 30 min idle');
    expect(probeAdvice([])).toBe('');
  });
});
