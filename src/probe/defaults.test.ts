import { describe, expect, it } from 'vitest';
import { probeRequestSchema } from '../api/probes.js';
import { configSchema } from '../config/schema.js';
import {
  DEFAULT_INTERVALS_SECONDS,
  DEFAULT_PROBE_MODE,
  DEFAULT_SEARCH_BUDGET,
  describeDuration,
  estimateProbeDuration,
  resolveProbePlan,
} from './defaults.js';
import { formatInterval, parseIntervalsText } from './intervals.js';

describe('probe defaults', () => {
  it('are the same for the API as for the CLI: search without intervals, fanout with them', () => {
    const body = probeRequestSchema.parse({ upstream: 'a' });
    expect(resolveProbePlan({ mode: body.mode, intervalsSeconds: body.intervals })).toMatchObject({
      mode: DEFAULT_PROBE_MODE,
      intervalsSeconds: [],
      budget: DEFAULT_SEARCH_BUDGET,
    });
    expect(DEFAULT_PROBE_MODE).toBe('search');
    const withGaps = probeRequestSchema.parse({ upstream: 'a', intervals: [5, 30] });
    expect(resolveProbePlan({ mode: withGaps.mode, intervalsSeconds: withGaps.intervals }).mode).toBe(
      'fanout',
    );
    expect(resolveProbePlan({ mode: 'ladder' }).intervalsSeconds).toEqual([...DEFAULT_INTERVALS_SECONDS]);
    // A schedule repeats: a fixed set of gaps keeps its runs comparable.
    const config = configSchema.parse({
      upstreams: [{ id: 'a', url: 'https://a.example/mcp', probe: { every: '6h' } }],
    });
    expect(config.upstreams[0]!.probe?.mode).toBe('fanout');
  });
});

describe('estimateProbeDuration', () => {
  it('fanout and ladder take about their longest gap', () => {
    expect(estimateProbeDuration({ mode: 'fanout', intervalsSeconds: [5, 30, 1800] })).toMatchObject({
      minSeconds: 1800,
      maxSeconds: 1800,
    });
    expect(estimateProbeDuration({ mode: 'ladder', intervalsSeconds: [60, 5] })).toMatchObject({
      minSeconds: 60,
      maxSeconds: 60,
    });
  });

  it('bisect may add rounds, each shorter than the longest gap, bounded by the budget', () => {
    const e = estimateProbeDuration({ mode: 'bisect', intervalsSeconds: [1, 2, 5] });
    expect(e.minSeconds).toBe(5);
    // Width 5 s narrows to 1 s in ceil(log4 5) = 2 rounds.
    expect(e.maxSeconds).toBe(15);
    expect(estimateProbeDuration({ mode: 'bisect', intervalsSeconds: [1800], budget: 3 }).maxSeconds).toBe(
      3600,
    );
  });

  it('a keepalive test idles one more session past the window', () => {
    expect(
      estimateProbeDuration({ mode: 'fanout', intervalsSeconds: [10], keepaliveSeconds: 2 }).minSeconds,
    ).toBe(10 + 15);
  });

  it('search takes at most twice the timeout plus 10 s, the timeout being at most --max-idle', () => {
    expect(estimateProbeDuration({})).toMatchObject({ mode: 'search', minSeconds: 10, maxSeconds: 7210 });
    expect(describeDuration(estimateProbeDuration({}))).toBe('10 s to 2 h');
    expect(estimateProbeDuration({ mode: 'search', maxIdleSeconds: 60 }).maxSeconds).toBe(130);
  });

  it('describes durations for a person', () => {
    expect(
      describeDuration(estimateProbeDuration({ intervalsSeconds: [...DEFAULT_INTERVALS_SECONDS] })),
    ).toBe('about 30 min');
    expect(describeDuration({ minSeconds: 5, maxSeconds: 15 })).toBe('5 s to 15 s');
    expect(describeDuration({ minSeconds: 1800, maxSeconds: 9000 })).toBe('30 min to 2.5 h');
  });
});

describe('parseIntervalsText', () => {
  it('reads seconds and durations, comma- or space-separated', () => {
    expect(parseIntervalsText('5, 30s 1m30s,6h 0.25')).toEqual({
      ok: true,
      seconds: [5, 30, 90, 21600, 0.25],
    });
    expect(parseIntervalsText('')).toEqual({ ok: true, seconds: [] });
  });

  it('names what it cannot read', () => {
    const parsed = parseIntervalsText('5, soon');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain('"soon"');
    expect(parseIntervalsText('0').ok).toBe(false);
  });

  it('formatInterval writes what it reads back', () => {
    for (const s of [5, 30, 60, 90, 300, 1800, 21600, 0.5]) {
      const parsed = parseIntervalsText(formatInterval(s));
      expect(parsed).toEqual({ ok: true, seconds: [s] });
    }
    expect(DEFAULT_INTERVALS_SECONDS.map(formatInterval).join(', ')).toBe('5s, 30s, 1m, 5m, 15m, 30m');
  });
});
