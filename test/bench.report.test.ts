// The benchmark's arithmetic: how slices become cells, cells become paired ratios, and paired
// ratios become the targets met or missed. `npm run bench` itself is a script (minutes
// of load on shared cores), so what decides its verdicts is tested here, without load.
import { describe, expect, it } from 'vitest';
import { type CellResult, median, percentile } from '../bench/load.js';
import {
  balancedOrder,
  type CellSummary,
  cpuRatioFor,
  evaluateTargets,
  fitModel,
  GENERIC_PROXY,
  iqrText,
  joinSlices,
  modelThroughput,
  PASS_THROUGH_CONTROL,
  pairedRatios,
  type Row,
  renderMarkdown,
  type Summary,
} from '../bench/report.js';

function result(
  requests: number,
  seconds: number,
  latenciesMs: number[],
  firstEventMs: number[] = [],
): CellResult {
  return {
    requests,
    errors: 0,
    seconds,
    latenciesMs: [...latenciesMs].sort((a, b) => a - b),
    firstEventMs: [...firstEventMs].sort((a, b) => a - b),
  };
}

function cell(
  throughput: number,
  cpuMicrosPerRequest: number,
  p50Ms = 1,
  mainThreadCpuMicrosPerRequest = Number.NaN,
): CellSummary {
  return {
    throughput,
    cpuMicrosPerRequest,
    mainThreadCpuMicrosPerRequest,
    p50Ms,
    p99Ms: p50Ms,
    firstEventMs: Number.NaN,
    errors: 0,
    requests: 1,
  };
}

describe('bench: percentile and median', () => {
  it('percentile is the nearest rank at or above p of a sorted list; NaN when empty', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(ten, 50)).toBe(6);
    expect(percentile(ten, 10)).toBe(2);
    expect(percentile(ten, 99)).toBe(10);
    expect(percentile(ten, 100)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
  });

  it('median sorts, averages the middle two of an even count and skips what is not finite', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5, Number.POSITIVE_INFINITY, 1])).toBe(3);
    expect(median([Number.NaN])).toBeNaN();
  });
});

describe('bench: slices into a cell', () => {
  it('adds requests, time and CPU, and pools the latencies before taking percentiles', () => {
    const joined = joinSlices([
      { r: result(4, 0.25, [1, 1, 1, 1]), cpuMicros: 400 },
      { r: result(6, 0.25, [3, 3, 3, 3, 3, 3]), cpuMicros: 1_400 },
    ]);
    expect(joined.requests).toBe(10);
    expect(joined.throughput).toBe(20);
    // 1,800 µs over 10 requests, not the mean of the slices' 100 and 233 µs.
    expect(joined.cpuMicrosPerRequest).toBe(180);
    // Pooled: six of ten requests took 3 ms, so p50 is 3 (the slices' own p50s are 1 and 3).
    expect(joined.p50Ms).toBe(3);
    expect(joined.p99Ms).toBe(3);
  });

  it("adds the main thread's CPU like the total, and has none when a slice did not read it", () => {
    const joined = joinSlices([
      { r: result(4, 0.25, [1, 1, 1, 1]), cpuMicros: 400, mainThreadCpuMicros: 300 },
      { r: result(6, 0.25, [3, 3, 3, 3, 3, 3]), cpuMicros: 1_400, mainThreadCpuMicros: 1_200 },
    ]);
    expect(joined.cpuMicrosPerRequest).toBe(180);
    expect(joined.mainThreadCpuMicrosPerRequest).toBe(150);
    const partly = joinSlices([
      { r: result(4, 0.25, [1]), cpuMicros: 400, mainThreadCpuMicros: 300 },
      { r: result(6, 0.25, [1]), cpuMicros: 1_400, mainThreadCpuMicros: null },
    ]);
    expect(partly.cpuMicrosPerRequest).toBe(180);
    expect(partly.mainThreadCpuMicrosPerRequest).toBeNaN();
    expect(joinSlices([{ r: result(4, 0.25, [1]), cpuMicros: 400 }]).mainThreadCpuMicrosPerRequest).toBeNaN();
  });

  it('has no CPU when a slice had no process to read (direct), and first-event times are pooled too', () => {
    const joined = joinSlices([
      { r: result(2, 0.5, [1, 2], [0.5, 0.7]), cpuMicros: 100 },
      { r: result(2, 0.5, [1, 2], [0.6, 0.9]), cpuMicros: null },
    ]);
    expect(joined.cpuMicrosPerRequest).toBeNaN();
    expect(joined.firstEventMs).toBe(0.7);
  });
});

describe('bench: paired ratios', () => {
  it('pairs cells by round, so the median of ratios follows what each round compared', () => {
    // The host slows down in round 3 for everyone: the ratio of medians would mix rounds.
    const passThrough = [cell(1000, 100, 1.0), cell(1000, 100, 1.0), cell(500, 200, 2.0)];
    const mine = [cell(950, 110, 1.2), cell(990, 105, 1.1), cell(480, 215, 2.3)];
    const direct = [cell(3000, Number.NaN, 0.3), cell(3000, Number.NaN, 0.3), cell(1500, Number.NaN, 0.6)];
    const paired = pairedRatios({ mine, passThrough, direct, hasCpu: true })!;
    expect(paired.rounds!.throughputVsPassThrough).toEqual([0.95, 0.99, 0.96]);
    expect(paired.throughputVsPassThrough).toBeCloseTo(0.96, 10);
    expect(paired.cpuVsPassThrough).toBeCloseTo(1.075, 10);
    expect(paired.addedP50VsDirectMs).toBeCloseTo(0.9, 10);
    // Ratio of the medians instead: 950 / 1000 = 0.95.
    expect(median(mine.map((c) => c.throughput)) / median(passThrough.map((c) => c.throughput))).toBe(0.95);
  });

  it('drops rounds beyond the shortest list, has no CPU ratio without a process, and none when empty', () => {
    const paired = pairedRatios({
      mine: [cell(900, 1), cell(800, 1), cell(1, 1)],
      passThrough: [cell(1000, 1), cell(1000, 1)],
      direct: [cell(1, 1, 0), cell(1, 1, 0), cell(1, 1, 0)],
      hasCpu: false,
    })!;
    expect(paired.rounds!.throughputVsPassThrough).toEqual([0.9, 0.8]);
    expect(paired.cpuVsPassThrough).toBeNull();
    expect(pairedRatios({ mine: [], passThrough: [cell(1, 1)], direct: [cell(1, 1)], hasCpu: true })).toBe(
      undefined,
    );
  });

  it("pairs the main thread's CPU by round too, and gives none when a round lacks it", () => {
    const paired = pairedRatios({
      mine: [cell(1, 120, 1, 110), cell(1, 110, 1, 100), cell(1, 150, 1, 140)],
      passThrough: [cell(1, 100, 1, 80), cell(1, 100, 1, 80), cell(1, 100, 1, 100)],
      direct: [cell(1, 1), cell(1, 1), cell(1, 1)],
      hasCpu: true,
    })!;
    expect(paired.rounds!.mainThreadCpuVsPassThrough).toEqual([1.375, 1.25, 1.4]);
    expect(paired.mainThreadCpuVsPassThrough).toBe(1.375);
    expect(paired.cpuVsPassThrough).toBe(1.2);
    const gap = pairedRatios({
      mine: [cell(1, 120, 1, 110), cell(1, 110, 1, 100)],
      passThrough: [cell(1, 100, 1, 80), cell(1, 100)],
      direct: [cell(1, 1), cell(1, 1)],
      hasCpu: true,
    })!;
    expect(gap.mainThreadCpuVsPassThrough).toBeNull();
  });
});

describe('bench: the targets', () => {
  function row(target: string, over: Partial<Row> = {}): Row {
    return {
      target,
      throughput: 1000,
      p50Ms: 1,
      p99Ms: 2,
      cpuMicrosPerRequest: 100,
      firstEventMs: Number.NaN,
      errors: 0,
      requests: 1000,
      ...over,
    };
  }
  function paired(throughput: number, cpu: number, addedP50 = 0.1): Row['paired'] {
    return {
      throughputVsPassThrough: throughput,
      cpuVsPassThrough: cpu,
      addedP50VsDirectMs: addedP50,
    };
  }
  function summary(
    proxyC16: Row['paired'],
    c1Added: number,
    overrides: Partial<Summary> = {},
    firstEventDeltaMs = 1,
  ): Summary {
    return {
      scenarios: [
        {
          name: 'raw ping c16',
          upstream: 'raw',
          method: 'ping',
          concurrency: 16,
          rows: [
            row('direct'),
            row('pass-through', { cpuMicrosPerRequest: 100 }),
            row('proxy', { cpuMicrosPerRequest: 135, paired: proxyC16 }),
            row(GENERIC_PROXY, { cpuMicrosPerRequest: 150 }),
          ],
        },
        {
          name: 'raw ping c1',
          upstream: 'raw',
          method: 'ping',
          concurrency: 1,
          rows: [
            row('direct', { p50Ms: 0.2 }),
            row('pass-through', { paired: paired(1, 1, 0.4) }),
            row('proxy', { p50Ms: 0.7, paired: paired(1, 1, c1Added) }),
          ],
        },
        {
          name: 'fixture tools/call c1',
          upstream: 'fixture',
          method: 'tools/call',
          concurrency: 1,
          rows: [row('direct', { firstEventMs: 2 }), row('proxy', { firstEventMs: 2 + firstEventDeltaMs })],
        },
      ],
      idle: null,
      trackerIdle: {
        sessions: 50_000,
        rssBytesPerSession: 2048,
        heapBytesPerSession: 500,
        rssKbPer1000Sessions: 2000,
      },
      recording: { exchanges: 50_000, trackerOnlyMicros: 2, trackerRecorderSqliteMicros: 17 },
      ...overrides,
    };
  }
  const verdicts = (s: Summary) => Object.fromEntries(evaluateTargets(s).map((c) => [c.target, c.met]));

  it('checks each limit inclusively, on the paired medians', () => {
    const at = verdicts(summary(paired(0.9, 1.3, 0.1), 0.3));
    expect(at).toEqual({
      'CPU per request vs pass-through (raw ping c16)': true,
      'Throughput vs pass-through (raw ping c16)': true,
      'Added p50 latency over direct (raw ping c1)': true,
      'RSS per idle tracked session (tracker alone, 50000 sessions)': true,
      'First SSE event vs direct (fixture tools/call c1, p50)': true,
    });
    const over = verdicts(
      summary(
        paired(0.89, 1.31, 0.1),
        0.301,
        {
          trackerIdle: {
            sessions: 50_000,
            rssBytesPerSession: 2049,
            heapBytesPerSession: 500,
            rssKbPer1000Sessions: 2001,
          },
          recording: { exchanges: 50_000, trackerOnlyMicros: 2, trackerRecorderSqliteMicros: 17.5 },
        },
        1.001,
      ),
    );
    expect(Object.values(over)).toEqual([false, false, false, false, false]);
  });

  it('falls back to ratios of the medians for a run without paired rounds', () => {
    const checks = evaluateTargets(summary(undefined, 0.1));
    const cpu = checks.find((c) => c.target === 'CPU per request vs pass-through (raw ping c16)')!;
    // 135 / 100 µs from the rows' medians.
    expect(cpu.measured).toMatch(/^1\.35x paired/);
    expect(cpu.met).toBe(false);
  });

  it('reports the spread of the rounds beside a paired median', () => {
    const withRounds = paired(0.95, 1.1);
    withRounds!.rounds = {
      throughputVsPassThrough: [0.8, 0.9, 0.95, 1.0, 1.1],
      cpuVsPassThrough: [1, 1.1, 1.1, 1.2, 1.3],
      addedP50VsDirectMs: [0.1, 0.1, 0.1],
    };
    const checks = evaluateTargets(summary(withRounds, 0.1));
    expect(checks.find((c) => c.target.startsWith('Throughput vs'))!.measured).toContain(
      'rounds IQR 0.90-1.00',
    );
  });

  it('shows the A/A control (a second pass-through) beside the proxy-vs-pass-through checks, without changing a verdict', () => {
    const without = evaluateTargets(summary(paired(0.89, 1.1), 0.1));
    expect(without.some((c) => c.measured.includes('A/A'))).toBe(false);
    const s = summary(paired(0.89, 1.1), 0.1);
    const control = paired(1.04, 0.97);
    control!.rounds = {
      throughputVsPassThrough: [0.9, 1.0, 1.04, 1.1, 1.2],
      cpuVsPassThrough: [0.9, 0.95, 0.97, 1.0, 1.1],
      addedP50VsDirectMs: [0, 0, 0],
    };
    s.scenarios[0]!.rows.push(row(PASS_THROUGH_CONTROL, { paired: control }));
    const checks = evaluateTargets(s);
    const tput = checks.find((c) => c.target === 'Throughput vs pass-through (raw ping c16)')!;
    expect(tput.measured).toMatch(/^0\.89x paired .*; A\/A control 1\.04x \(IQR 1\.00-1\.10\)$/);
    expect(tput.met).toBe(false);
    const cpu = checks.find((c) => c.target === 'CPU per request vs pass-through (raw ping c16)')!;
    expect(cpu.measured).toMatch(/; A\/A control 0\.97x \(IQR 0\.95-1\.00\)$/);
    expect(cpu.met).toBe(true);
    // The c1 and idle checks are not ratios to the pass-through: no control beside them.
    expect(checks.filter((c) => c.measured.includes('A/A')).map((c) => c.target)).toEqual([
      'CPU per request vs pass-through (raw ping c16)',
      'Throughput vs pass-through (raw ping c16)',
    ]);
    expect(checks.map((c) => c.met)).toEqual(without.map((c) => c.met));
  });

  it("shows the proxy's main-thread CPU ratio beside its total, without changing the verdict", () => {
    const withMain = paired(0.94, 1.1);
    withMain!.mainThreadCpuVsPassThrough = 1.3;
    withMain!.rounds = {
      throughputVsPassThrough: [0.94],
      cpuVsPassThrough: [1.1],
      mainThreadCpuVsPassThrough: [1.2, 1.3, 1.3, 1.4, 1.5],
      addedP50VsDirectMs: [0.1],
    };
    const cpu = evaluateTargets(summary(withMain, 0.1)).find(
      (c) => c.target === 'CPU per request vs pass-through (raw ping c16)',
    )!;
    expect(cpu.measured).toMatch(/^1\.10x paired .*\); main thread 1\.30x \(IQR 1\.30-1\.40\)$/);
    expect(cpu.met).toBe(true);
    const older = evaluateTargets(summary(paired(0.94, 1.1), 0.1)).find(
      (c) => c.target === 'CPU per request vs pass-through (raw ping c16)',
    )!;
    expect(older.measured).not.toContain('main thread');
  });

  it("names the throughput scenarios' extra rounds in the table's header, and only when there are more", () => {
    const header = (throughputRounds?: number) =>
      renderMarkdown({
        generatedAt: '2026-11-24T00:00:00.000Z',
        command: 'npm run bench',
        machine: { cpus: 2, cpuModel: 'test', node: 'v20' },
        settings: { rounds: 5, cellMs: 1000, slicesPerCell: 4, throughputRounds },
        telemetry: 'on',
        summary: summary(paired(1, 1), 0.1),
        targets: [],
      }).split('\n')[0]!;
    expect(header(15)).toContain(
      '5 interleaved rounds of 1000 ms per cell (4 slices, interleaved across targets); 15 rounds for raw ping c16 and everything ping c16, medians',
    );
    expect(header(5)).toContain('(4 slices, interleaved across targets), medians');
    expect(header()).toContain('(4 slices, interleaved across targets), medians');
  });

  it('judges idle-session RSS on the tracker alone and on the median step through the whole proxy', () => {
    const target = (idle: Summary['idle']) =>
      evaluateTargets({ ...summary(paired(1, 1), 0.1), idle }).find((c) =>
        c.target.startsWith('RSS per idle tracked session'),
      )!;
    const steps = (...rss: number[]) => ({
      sessions: 5000 * rss.length,
      rssBytesPerSession: median(rss),
      heapBytesPerSession: 650,
      rssKbPer1000Sessions: median(rss) * (1000 / 1024),
      steps: rss.map((r) => ({ rssBytesPerSession: r, heapBytesPerSession: 650 })),
    });
    // The tracker alone is at the limit (2048 B) in this summary; the proxy decides.
    const within = target(steps(1300, 2600, 1500, 1700));
    expect(within.target).toBe('RSS per idle tracked session (tracker alone, 50000 sessions; whole proxy)');
    expect(within.measured).toBe(
      '2048 B (heap 500 B); whole proxy: 1600 B RSS (median of 4 steps of 5000: 1300-2600 B), 650 B heap',
    );
    expect(within.met).toBe(true);
    expect(target(steps(1300, 2600, 2100, 2200)).met).toBe(false);
    // Results from before the steps: one noisy measurement through the proxy, shown but not judged.
    const older = target({
      sessions: 5000,
      rssBytesPerSession: 2277,
      heapBytesPerSession: 717,
      rssKbPer1000Sessions: 2224,
    });
    expect(older.target).toBe('RSS per idle tracked session (tracker alone, 50000 sessions)');
    expect(older.measured).toBe('2048 B (heap 500 B); whole proxy: 2277 B RSS, 717 B heap');
    expect(older.met).toBe(true);
  });

  it('leaves out the checks of scenarios that did not run (a partial run)', () => {
    const s = summary(paired(1, 1), 0.1);
    s.scenarios = s.scenarios.filter((x) => x.name === 'raw ping c1');
    expect(evaluateTargets(s).map((c) => c.target)).toEqual([
      'Added p50 latency over direct (raw ping c1)',
      'RSS per idle tracked session (tracker alone, 50000 sessions)',
    ]);
  });
});

describe('bench: iqrText', () => {
  it('gives interpolated quartiles of three or more rounds, nothing for fewer', () => {
    expect(iqrText([5, 1, 3, 2, 4])).toBe('IQR 2.00-4.00');
    expect(iqrText([1, 2, 3, 4])).toBe('IQR 1.75-3.25');
    expect(iqrText([1, 2])).toBe('');
    expect(iqrText(null)).toBe('');
  });
});

describe('bench: the throughput model', () => {
  it('recovers k from rounds the model generated, and the CPU ratio a throughput needs', () => {
    const points = [0.8, 0.95, 1, 1.1, 1.25, 1.5].map((cpu) => ({
      cpu,
      throughput: modelThroughput(0.6, cpu),
    }));
    const fit = fitModel(points);
    expect(fit.k).toBeCloseTo(0.6, 10);
    expect(fit.rms).toBeLessThan(1e-9);
    expect(cpuRatioFor(0.6, 0.95)).toBeCloseTo(1.0842, 4);
    expect(modelThroughput(0.6, cpuRatioFor(0.6, 0.95))).toBeCloseTo(0.95, 10);
    // At equal CPU the model predicts equal throughput, whatever k.
    expect(modelThroughput(3.65, 1)).toBe(1);
  });

  it('fits noisy rounds to the nearest k on its grid', () => {
    const points = [1, 1.1, 1.2, 1.3].flatMap((cpu) => [
      { cpu, throughput: modelThroughput(2, cpu) + 0.01 },
      { cpu, throughput: modelThroughput(2, cpu) - 0.01 },
    ]);
    const fit = fitModel(points);
    expect(fit.k).toBeCloseTo(2, 10);
    expect(fit.rms).toBeCloseTo(0.01, 3);
  });
});

describe('bench: the order targets take turns in', () => {
  /** How often each target runs right after each other one, over `rows` rounds. */
  function followCounts(n: number, rows: number) {
    const targets = Array.from({ length: n }, (_, i) => `t${i}`);
    const counts = new Map<string, number>();
    const firsts = new Map<string, number>();
    for (let r = 0; r < rows; r++) {
      const order = balancedOrder(targets, r);
      expect([...order].sort()).toEqual([...targets].sort());
      firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1);
      for (let i = 1; i < n; i++) {
        const pair = `${order[i - 1]}>${order[i]}`;
        counts.set(pair, (counts.get(pair) ?? 0) + 1);
      }
    }
    return { counts, firsts };
  }

  it('puts every target right after every other one equally often (6 targets: once in 6 rounds)', () => {
    const { counts, firsts } = followCounts(6, 6);
    expect(counts.size).toBe(6 * 5);
    expect(new Set(counts.values())).toEqual(new Set([1]));
    expect(new Set(firsts.values())).toEqual(new Set([1]));
  });

  it('does so with an odd number of targets too (5, nginx missing: twice in 10 rounds)', () => {
    const { counts, firsts } = followCounts(5, 10);
    expect(counts.size).toBe(5 * 4);
    expect(new Set(counts.values())).toEqual(new Set([2]));
    expect(new Set(firsts.values())).toEqual(new Set([2]));
  });

  it('changes neighbours from round to round, unlike a rotation (15 rounds of 6 targets)', () => {
    const { counts } = followCounts(6, 15);
    // A rotation would put each target after the same one in 12 or 15 of 15 rounds.
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(3);
  });
});
