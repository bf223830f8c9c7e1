import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CARDINALITY_LIMIT, LocalHistogram, LocalMetricProducer, LocalSum } from './aggregate.js';

const resource = resourceFromAttributes({ 'service.name': 'test' });
const BOUNDS = [0.01, 0.1, 1, 10];

function producerOver(instruments: Array<LocalHistogram | LocalSum>, now?: () => number) {
  return new LocalMetricProducer(() => instruments, resource, { name: 'test' }, now);
}

describe('LocalHistogram', () => {
  it('aggregates exactly as the SDK histogram does (buckets, sum, count, min, max)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.constantFrom(0, 0.01, 0.1, 1, 10, 11), fc.double({ min: 0, max: 20, noNaN: true })),
          {
            maxLength: 60,
          },
        ),
        async (values) => {
          // Reference: the SDK's own synchronous histogram with the same boundaries.
          const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
          const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
          const provider = new MeterProvider({ resource, readers: [reader] });
          const sdk = provider
            .getMeter('ref')
            .createHistogram('h', { advice: { explicitBucketBoundaries: BOUNDS } });
          const local = new LocalHistogram({ name: 'h', unit: 's', description: '' }, BOUNDS);
          const series = local.series('k', () => ({ a: 'x' }));
          for (const v of values) {
            sdk.record(v, { a: 'x' });
            series.record(v);
          }
          await reader.forceFlush();
          const ref = exporter.getMetrics().at(-1)?.scopeMetrics[0]?.metrics[0]?.dataPoints[0] as
            | DataPoint<Histogram>
            | undefined;
          const [mine] = producerOver([local]).snapshot();
          await provider.shutdown();
          if (values.length === 0) {
            expect(mine).toBeUndefined();
            return;
          }
          const got = mine!.dataPoints[0] as DataPoint<Histogram>;
          expect(got.attributes).toEqual({ a: 'x' });
          expect(got.value.buckets).toEqual(ref!.value.buckets);
          expect(got.value.count).toBe(ref!.value.count);
          expect(got.value.sum).toBeCloseTo(ref!.value.sum!, 9);
          expect(got.value.min).toBe(ref!.value.min);
          expect(got.value.max).toBe(ref!.value.max);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('gives a delta reader only what is new since its last collection; a cumulative reader everything', () => {
    let t = 1_000_000;
    const now = () => t;
    const h = new LocalHistogram({ name: 'h', unit: 's', description: '' }, BOUNDS, now);
    const c = new LocalSum({ name: 'c', unit: '1', description: '' }, true, now);
    const cumulative = producerOver([h, c], now);
    const delta = producerOver([h, c], now);
    delta.bindTemporality(() => AggregationTemporality.DELTA);

    h.series('a', () => ({ k: 'a' })).record(0.5);
    c.series('a', () => ({ k: 'a' })).add(2);
    t += 1000;
    const d1 = delta.snapshot();
    cumulative.snapshot();
    t += 1000;
    h.series('a', () => ({ k: 'a' })).record(5);
    h.series('a', () => ({ k: 'a' })).record(50);
    t += 1000;
    const d2 = delta.snapshot();
    const c2 = cumulative.snapshot();
    const d3 = delta.snapshot(); // nothing new: nothing reported

    const hist = (m: MetricData[]) =>
      m.find((x) => x.descriptor.name === 'h')?.dataPoints[0] as DataPoint<Histogram>;
    const sum = (m: MetricData[]) =>
      m.find((x) => x.descriptor.name === 'c')?.dataPoints[0] as DataPoint<number>;
    expect(hist(d1).value).toMatchObject({ count: 1, sum: 0.5, buckets: { counts: [0, 0, 1, 0, 0] } });
    expect(sum(d1).value).toBe(2);
    expect(hist(d2).value).toMatchObject({ count: 2, sum: 55, buckets: { counts: [0, 0, 0, 1, 1] } });
    expect(hist(d2).startTime).toEqual([1001, 0]); // from the previous collection
    expect(sum(d2)).toBeUndefined(); // the counter did not move
    expect(d2.find((x) => x.descriptor.name === 'h')?.aggregationTemporality).toBe(
      AggregationTemporality.DELTA,
    );
    expect(hist(c2).value).toMatchObject({ count: 3, sum: 55.5, min: 0.5, max: 50 });
    expect(hist(c2).startTime).toEqual([1000, 0]);
    expect(sum(c2).value).toBe(2);
    expect(d3).toEqual([]);
  });

  it('caps series per instrument: new attribute sets beyond the limit share an overflow series', () => {
    const h = new LocalHistogram({ name: 'h', unit: 's', description: '' }, BOUNDS);
    for (let i = 0; i < CARDINALITY_LIMIT + 50; i++) h.series(`k${i}`, () => ({ i })).record(1);
    const [m] = producerOver([h]).snapshot();
    expect(m!.dataPoints).toHaveLength(CARDINALITY_LIMIT + 1);
    const overflow = m!.dataPoints.find(
      (p) => p.attributes['otel.metric.overflow'] === true,
    ) as DataPoint<Histogram>;
    expect(overflow.value.count).toBe(50);
  });
});

describe('LocalMetricProducer in a real reader', () => {
  it('its series appear in the Prometheus text next to the SDK instruments', async () => {
    const h = new LocalHistogram(
      { name: 'mcp.client.operation.duration', unit: 's', description: 'ops' },
      BOUNDS,
    );
    const up = new LocalSum({ name: 'sessions.active', unit: '{session}', description: 'open' }, false);
    const producer = producerOver([h, up]);
    const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
    const provider = new MeterProvider({ resource, readers: [prometheus] });
    provider
      .getMeter('sdk')
      .createObservableGauge('queued')
      .addCallback((r) => r.observe(3));
    h.series('x', () => ({ upstream: 'linear' })).record(0.05);
    up.series('x', () => ({ upstream: 'linear' })).add(1);
    up.series('x', () => ({ upstream: 'linear' })).add(-1);
    up.series('x', () => ({ upstream: 'linear' })).add(1);
    const { resourceMetrics } = await prometheus.collect();
    const text = new PrometheusSerializer().serialize(resourceMetrics);
    await provider.shutdown();
    expect(text).toContain('# TYPE mcp_client_operation_duration histogram');
    expect(text).toContain(
      'mcp_client_operation_duration_bucket{upstream="linear",otel_scope_name="test",le="0.1"} 1',
    );
    expect(text).toContain('mcp_client_operation_duration_count{upstream="linear",otel_scope_name="test"} 1');
    expect(text).toContain('sessions_active{upstream="linear",otel_scope_name="test"} 1');
    expect(text).toContain('queued{otel_scope_name="sdk"} 3');
  });
});
