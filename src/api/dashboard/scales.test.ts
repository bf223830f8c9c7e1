import { describe, expect, it } from 'vitest';
import {
  formatSeconds,
  histogram,
  idleGapDomain,
  jitter,
  labelAnchor,
  linearScale,
  logScale,
  logTicks,
  niceTicks,
  percentile,
  timeTicks,
  unitLabel,
} from './scales.js';

describe('dashboard scales', () => {
  it('linearScale maps the domain onto the range, and a zero-width domain to the middle', () => {
    const x = linearScale([0, 10], [100, 200]);
    expect([x(0), x(5), x(10)]).toEqual([100, 150, 200]);
    expect(linearScale([3, 3], [0, 50])(3)).toBe(25);
  });

  it('logScale puts each decade at equal width and clamps zero gaps to the start', () => {
    const x = logScale([0.1, 100], [0, 300]);
    expect([x(0.1), x(1), x(10), x(100)].map((v) => Math.round(v))).toEqual([0, 100, 200, 300]);
    expect(x(0)).toBe(0);
    expect(x(1e6)).toBe(300);
    expect(() => logScale([0, 10], [0, 1])).toThrow('log axis domain [0, 10] must be positive');
  });

  it('idleGapDomain spans whole decades around the gaps, at least one decade, starting at 1 s or below', () => {
    expect(idleGapDomain([0.31, 0.6, 0.9])).toEqual([0.1, 1]);
    expect(idleGapDomain([0, 2.5, 45])).toEqual([1, 100]);
    expect(idleGapDomain([1000])).toEqual([1, 1000]);
    expect(idleGapDomain([0.001])).toEqual([0.01, 0.1]);
    expect(idleGapDomain([])).toEqual([0.1, 100]);
  });

  it('logTicks labels decades and adds unlabelled 2× and 5× ticks', () => {
    expect(logTicks([0.1, 10]).map((t) => [t.value, t.major])).toEqual([
      [0.1, true],
      [0.2, false],
      [0.5, false],
      [1, true],
      [2, false],
      [5, false],
      [10, true],
    ]);
    expect(
      logTicks([1, 1000])
        .filter((t) => t.major)
        .map((t) => t.label),
    ).toEqual(['1 s', '10 s', '100 s', '1,000 s']);
  });

  it('timeTicks labels a linear time axis in one unit, at round numbers of it', () => {
    const labels = (domain: [number, number], count = 6) => {
      const { unit, ticks } = timeTicks(domain, count);
      return ticks.map((t) => unitLabel(t, unit));
    };
    // 16 minutes: every few minutes, never "90 s" beside "2 min".
    expect(labels([-960, 0])).toEqual(['-15 min', '-10 min', '-5 min', '0 min']);
    expect(labels([-90, 0], 3)).toEqual(['-50 s', '0 s']);
    expect(labels([0, 0.5], 5)).toEqual(['0 s', '0.1 s', '0.2 s', '0.3 s', '0.4 s', '0.5 s']);
    expect(labels([-3 * 86_400, 0], 3)).toEqual(['-3 d', '-2 d', '-1 d', '0 d']);
    for (const domain of [
      [-50, 0],
      [-7200, 0],
      [0, 150],
      [-40_000, 0],
    ] as Array<[number, number]>) {
      const units = new Set(labels(domain).map((l) => l.split(' ')[1]));
      expect(units.size, String(domain)).toBe(1);
    }
  });

  it('labelAnchor keeps a label inside the chart near its edges', () => {
    expect([labelAnchor(5, [0, 760]), labelAnchor(380, [0, 760]), labelAnchor(750, [0, 760])]).toEqual([
      'start',
      'middle',
      'end',
    ]);
  });

  it('formatSeconds picks a unit a person reads at a glance', () => {
    expect([0.069, 0.5, 30, 90, 300, 5400, 7200, 86_400 * 3].map(formatSeconds)).toEqual([
      '0.069 s',
      '0.5 s',
      '30 s',
      '90 s',
      '5 min',
      '90 min',
      '2 h',
      '3 d',
    ]);
    expect(formatSeconds(null)).toBe('—');
  });

  it('niceTicks steps by 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks([0, 1], 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks([-37, 0], 6)).toEqual([-30, -20, -10, 0]);
    expect(niceTicks([0, 0.3], 6)).toEqual([0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]);
    expect(niceTicks([4, 4])).toEqual([4]);
  });

  it('histogram bins values on round edges and keeps every value', () => {
    const bins = histogram([0.061, 0.07, 0.075, 0.118], 6);
    expect(bins.reduce((n, b) => n + b.count, 0)).toBe(4);
    expect(bins[0]).toEqual({ from: 0.06, to: 0.08, count: 3 });
    expect(bins.at(-1)).toEqual({ from: 0.1, to: 0.12, count: 1 });
    expect(histogram([])).toEqual([]);
    expect(histogram([2, 2, 2]).reduce((n, b) => n + b.count, 0)).toBe(3);
  });

  it('percentile is nearest-rank', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([5, 1, 3, 2, 4], 90)).toBe(5);
    expect(percentile([], 50)).toBeNull();
  });

  it('jitter is deterministic and within [-1, 1]', () => {
    const values = Array.from({ length: 200 }, (_, i) => jitter(i));
    expect(values.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(jitter(7)).toBe(jitter(7));
    expect(new Set(values.map((v) => v.toFixed(3))).size).toBeGreaterThan(150);
  });
});
