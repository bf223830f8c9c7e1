// Histograms and sums aggregated in-process, handed to OpenTelemetry metric readers through
// the SDK's MetricProducer interface at collection time.
//
// Why not the SDK's synchronous instruments: every `record()` there hashes its attribute set
// (sort the keys, JSON.stringify) to find the series, which made metrics the largest single cost
// of a proxied request. Here the caller names the series with a string it already has, a
// series is found once and then recorded into directly: a bucket search and four additions.
// What readers see is the same MetricData the SDK would produce (same names, units, bucket
// boundaries, cumulative or delta as each reader asks).
import type { Attributes } from '@opentelemetry/api';
import { ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type Histogram,
  InstrumentType,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

export interface InstrumentDescriptor {
  name: string;
  description: string;
  unit: string;
}

/** Series per instrument beyond which new attribute sets share one overflow series (as the SDK does). */
export const CARDINALITY_LIMIT = 2000;
const OVERFLOW_KEY = '\0overflow';
const OVERFLOW_ATTRIBUTES: Attributes = { 'otel.metric.overflow': true };

/** Whether a series is an instrument's overflow series (the one past `CARDINALITY_LIMIT`). */
export function isOverflowSeries(series: { readonly attributes: Attributes }): boolean {
  return series.attributes === OVERFLOW_ATTRIBUTES;
}

export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  constructor(
    readonly attributes: Attributes,
    private readonly boundaries: readonly number[],
    readonly startedAt: number,
  ) {
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
  }

  record(value: number): void {
    if (Number.isNaN(value)) return;
    const b = this.boundaries;
    // Inclusive upper bounds, like the SDK's explicit-bucket histogram.
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }
}

export class SumSeries {
  value = 0;
  constructor(
    readonly attributes: Attributes,
    readonly startedAt: number,
  ) {}
  add(n: number): void {
    this.value += n;
  }
}

abstract class LocalInstrument<S> {
  protected readonly byKey = new Map<string, S>();
  constructor(
    readonly descriptor: InstrumentDescriptor,
    readonly instrumentType: InstrumentType,
    protected readonly now: () => number,
  ) {}

  protected abstract create(attributes: Attributes): S;

  /** The series named `key`, created with `attributes()` on first use. */
  series(key: string, attributes: () => Attributes): S {
    let s = this.byKey.get(key);
    if (s === undefined) {
      if (this.byKey.size >= CARDINALITY_LIMIT) return this.overflow();
      s = this.create(attributes());
      this.byKey.set(key, s);
    }
    return s;
  }

  private overflow(): S {
    let s = this.byKey.get(OVERFLOW_KEY);
    if (s === undefined) {
      s = this.create(OVERFLOW_ATTRIBUTES);
      this.byKey.set(OVERFLOW_KEY, s);
    }
    return s;
  }

  entries(): IterableIterator<[string, S]> {
    return this.byKey.entries();
  }
}

export class LocalHistogram extends LocalInstrument<HistogramSeries> {
  constructor(
    descriptor: InstrumentDescriptor,
    readonly boundaries: readonly number[],
    now: () => number = Date.now,
  ) {
    super(descriptor, InstrumentType.HISTOGRAM, now);
  }
  protected create(attributes: Attributes): HistogramSeries {
    return new HistogramSeries(attributes, this.boundaries, this.now());
  }
}

export class LocalSum extends LocalInstrument<SumSeries> {
  constructor(
    descriptor: InstrumentDescriptor,
    readonly monotonic: boolean,
    now: () => number = Date.now,
  ) {
    super(descriptor, monotonic ? InstrumentType.COUNTER : InstrumentType.UP_DOWN_COUNTER, now);
  }
  protected create(attributes: Attributes): SumSeries {
    return new SumSeries(attributes, this.now());
  }
}

export type LocalInstrumentAny = LocalHistogram | LocalSum;

interface Collected {
  at: number;
  /** Per instrument name, per series key: what the last collection reported (delta readers). */
  hist: Map<string, Map<string, { counts: number[]; sum: number; count: number }>>;
  sums: Map<string, Map<string, number>>;
}

/**
 * A MetricProducer over local instruments, one per metric reader: it remembers what it last
 * reported so that a reader asking for delta temporality gets deltas. Call `bindTemporality`
 * once the reader exists (the reader is built with its producers).
 */
export class LocalMetricProducer implements MetricProducer {
  private temporalityOf: (t: InstrumentType) => AggregationTemporality = () =>
    AggregationTemporality.CUMULATIVE;
  private last: Collected | null = null;

  constructor(
    private readonly instruments: () => readonly LocalInstrumentAny[],
    private readonly resource: Resource,
    private readonly scope: { name: string; version?: string },
    private readonly now: () => number = Date.now,
  ) {}

  bindTemporality(select: (t: InstrumentType) => AggregationTemporality): void {
    this.temporalityOf = select;
  }

  async collect(): Promise<CollectionResult> {
    return {
      resourceMetrics: {
        resource: this.resource,
        scopeMetrics: [{ scope: this.scope, metrics: this.snapshot() }],
      },
      errors: [],
    };
  }

  /** The instruments' data as of now, in each one's temporality for this reader. */
  snapshot(): MetricData[] {
    const at = this.now();
    const end = millisToHrTime(at);
    const prev = this.last;
    const next: Collected = { at, hist: new Map(), sums: new Map() };
    const out: MetricData[] = [];
    for (const inst of this.instruments()) {
      const temporality = this.temporalityOf(inst.instrumentType);
      const delta = temporality === AggregationTemporality.DELTA;
      const descriptor = { ...inst.descriptor, valueType: ValueType.DOUBLE };
      if (inst instanceof LocalHistogram) {
        const before = prev?.hist.get(inst.descriptor.name);
        const seen = new Map<string, { counts: number[]; sum: number; count: number }>();
        next.hist.set(inst.descriptor.name, seen);
        const points: DataPoint<Histogram>[] = [];
        for (const [key, s] of inst.entries()) {
          if (s.count === 0) continue; // named but never recorded into
          const counts = s.counts.slice();
          seen.set(key, { counts, sum: s.sum, count: s.count });
          const b = delta ? before?.get(key) : undefined;
          const count = s.count - (b?.count ?? 0);
          if (delta && count === 0) continue;
          points.push({
            attributes: s.attributes,
            startTime: millisToHrTime(delta && prev ? Math.max(prev.at, s.startedAt) : s.startedAt),
            endTime: end,
            value: {
              buckets: {
                boundaries: [...inst.boundaries],
                counts: b ? counts.map((c, i) => c - b.counts[i]!) : counts,
              },
              sum: s.sum - (b?.sum ?? 0),
              count,
              // Extremes of the interval are unknown for a delta over a running aggregate.
              ...(b ? {} : { min: s.min, max: s.max }),
            },
          });
        }
        if (points.length > 0) {
          out.push({
            descriptor,
            aggregationTemporality: temporality,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: points,
          });
        }
      } else {
        const before = prev?.sums.get(inst.descriptor.name);
        const seen = new Map<string, number>();
        next.sums.set(inst.descriptor.name, seen);
        const points: DataPoint<number>[] = [];
        for (const [key, s] of inst.entries()) {
          seen.set(key, s.value);
          const b = delta ? before?.get(key) : undefined;
          if (delta && b !== undefined && s.value === b) continue;
          points.push({
            attributes: s.attributes,
            startTime: millisToHrTime(delta && prev ? Math.max(prev.at, s.startedAt) : s.startedAt),
            endTime: end,
            value: s.value - (b ?? 0),
          });
        }
        if (points.length > 0) {
          out.push({
            descriptor,
            aggregationTemporality: temporality,
            dataPointType: DataPointType.SUM,
            dataPoints: points,
            isMonotonic: inst.monotonic,
          });
        }
      }
    }
    this.last = next;
    return out;
  }
}
