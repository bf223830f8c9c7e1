// Pure geometry for the dashboard's SVG charts: axes, ticks and bins. No I/O, no JSX,
// so the arithmetic is tested on its own.

export interface LinearScale {
  (value: number): number;
  domain: readonly [number, number];
  range: readonly [number, number];
}

/** Maps [d0, d1] onto [r0, r1]; a zero-width domain maps everything to the middle. */
export function linearScale(
  domain: readonly [number, number],
  range: readonly [number, number],
): LinearScale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const scale = (value: number) => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((value - d0) / (d1 - d0)) * (r1 - r0));
  return Object.assign(scale, { domain, range });
}

export interface LogScale extends LinearScale {
  /** Values at or below zero cannot sit on a log axis: they are drawn at the domain's start. */
  clampsBelow: number;
}

/** Log10 axis over [d0, d1] (both > 0); values below d0 are clamped to d0, above d1 to d1. */
export function logScale(domain: readonly [number, number], range: readonly [number, number]): LogScale {
  const [d0, d1] = domain;
  if (!(d0 > 0 && d1 > 0)) throw new Error(`log axis domain [${d0}, ${d1}] must be positive`);
  const inner = linearScale([Math.log10(d0), Math.log10(d1)], range);
  const scale = (value: number) => inner(Math.log10(Math.min(d1, Math.max(d0, value))));
  return Object.assign(scale, { domain, range, clampsBelow: d0 });
}

/**
 * The idle-gap axis: whole decades (0.1 s, 1 s, 10 s...) that contain every value, at
 * least one decade wide. Gaps of 0 s (a request while another was in flight) sit at the start.
 */
export function idleGapDomain(valuesSeconds: readonly number[]): [number, number] {
  const positive = valuesSeconds.filter((v) => Number.isFinite(v) && v > 0);
  if (positive.length === 0) return [0.1, 100];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive)));
  const start = Math.min(Math.max(lo, 0.01), 1);
  return [start, Math.max(hi, start * 10)];
}

export interface Tick {
  value: number;
  label: string;
  /** Minor ticks (2×, 5× a decade) get a grid line but no label. */
  major: boolean;
}

/** Ticks at 1, 2 and 5 times each decade of a log domain; decades are labelled. */
export function logTicks([d0, d1]: readonly [number, number]): Tick[] {
  const ticks: Tick[] = [];
  for (let exp = Math.floor(Math.log10(d0)); exp <= Math.ceil(Math.log10(d1)); exp += 1) {
    for (const m of [1, 2, 5]) {
      const value = m * 10 ** exp;
      // Rounding keeps 0.1 × 3 style float noise out of comparisons and labels.
      const rounded = Number(value.toPrecision(6));
      if (rounded < d0 * (1 - 1e-9) || rounded > d1 * (1 + 1e-9)) continue;
      // Seconds throughout: one unit per axis (the domain starts at 1 s or below).
      ticks.push({ value: rounded, label: `${axisNumber(rounded)} s`, major: m === 1 });
    }
  }
  return ticks;
}

/** A number on an axis label: at most three decimals, thousands grouped (`0.05`, `1,000`). */
export function axisNumber(value: number): string {
  return Number(value.toPrecision(6)).toLocaleString('en-US', { maximumFractionDigits: 3 });
}

export interface AxisUnit {
  name: 's' | 'min' | 'h' | 'd';
  seconds: number;
}

const AXIS_UNITS: readonly AxisUnit[] = [
  { name: 's', seconds: 1 },
  { name: 'min', seconds: 60 },
  { name: 'h', seconds: 3600 },
  { name: 'd', seconds: 86_400 },
];

/** The one unit a linear time axis is labelled in: the largest that fits in its span twice. */
export function axisUnit(spanSeconds: number): AxisUnit {
  return [...AXIS_UNITS].reverse().find((u) => spanSeconds / u.seconds >= 2) ?? AXIS_UNITS[0]!;
}

/**
 * Ticks for a linear time axis over [d0, d1] seconds: round numbers of one unit (every 10 s,
 * every 5 min...), never a mix such as "90 s" beside "2 min". Values stay in seconds.
 */
export function timeTicks(
  [d0, d1]: readonly [number, number],
  count = 5,
): { unit: AxisUnit; ticks: number[] } {
  const unit = axisUnit(Math.abs(d1 - d0));
  const ticks = niceTicks([d0 / unit.seconds, d1 / unit.seconds], count).map((v) =>
    Number((v * unit.seconds).toPrecision(12)),
  );
  return { unit, ticks };
}

/** A tick's label in its axis's unit: `5 min`, `0.25 s`. */
export function unitLabel(seconds: number, unit: AxisUnit): string {
  return `${axisNumber(seconds / unit.seconds)} ${unit.name}`;
}

/**
 * Where a label at `x` is anchored so that it stays inside [left, right]: centred, unless it
 * is within `halfWidth` of an edge, where it ends (or starts) at the tick instead.
 */
export function labelAnchor(x: number, [left, right]: readonly [number, number], halfWidth = 30) {
  if (x > right - halfWidth) return 'end' as const;
  if (x < left + halfWidth) return 'start' as const;
  return 'middle' as const;
}

/** "0.25 s", "30 s", "2 min", "1.5 h": short labels for tables and values (not axes). */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 1) return `${Number(seconds.toPrecision(2))} s`;
  if (seconds < 120) return `${Number(seconds.toPrecision(3))} s`;
  if (seconds < 7200) return `${Number((seconds / 60).toPrecision(3))} min`;
  if (seconds < 172_800) return `${Number((seconds / 3600).toPrecision(3))} h`;
  return `${Number((seconds / 86_400).toPrecision(3))} d`;
}

/** Round-number ticks for a linear axis: about `count` of them, steps of 1, 2 or 5 × 10^k. */
export function niceTicks([d0, d1]: readonly [number, number], count = 5): number[] {
  if (!(d1 > d0)) return [d0];
  const raw = (d1 - d0) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(d0 / step) * step; v <= d1 + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

export interface Bin {
  /** Inclusive lower edge. */
  from: number;
  /** Exclusive upper edge (inclusive for the last bin). */
  to: number;
  count: number;
}

/**
 * Equal-width bins with round edges over the values (e.g. init latencies in seconds).
 * The edges come from `niceTicks`, so bar boundaries are readable numbers.
 */
export function histogram(values: readonly number[], targetBins = 12): Bin[] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [];
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const ticks = niceTicks([Math.min(0, min), max === min ? max + 1 : max], targetBins);
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  const first = Math.floor(min / step) * step;
  const count = Math.max(1, Math.floor((max - first) / step) + 1);
  const bins: Bin[] = Array.from({ length: count }, (_, i) => ({
    from: Number((first + i * step).toPrecision(12)),
    to: Number((first + (i + 1) * step).toPrecision(12)),
    count: 0,
  }));
  for (const v of finite) {
    const index = Math.min(count - 1, Math.floor((v - first) / step));
    bins[index]!.count += 1;
  }
  return bins;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/**
 * A small deterministic vertical offset in [-1, 1] so that points at the same gap do not
 * hide each other, stable across reloads (it depends only on the index).
 */
export function jitter(index: number): number {
  const x = Math.sin((index + 1) * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}
