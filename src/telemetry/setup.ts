import { createRequire } from 'node:module';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import {
  detectResources,
  envDetector,
  type Resource,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  ConsoleMetricExporter,
  type IMetricReader,
  MeterProvider,
  type MetricProducer,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import type * as SdkNodeFromEnv from '@opentelemetry/sdk-node/build/src/create-from-env.js';
import type * as SdkNodeUtils from '@opentelemetry/sdk-node/build/src/utils.js';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  ParentBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ExchangeHandle } from '../sessions/tracker.js';
import type { ExchangeRecord, Observation, SessionRecord } from '../sessions/types.js';
import { LocalMetricProducer } from './aggregate.js';
import { createMetricsRecorder, type MetricSources, type MetricsRecorder } from './metrics.js';
import {
  createSpanRecorder,
  type ProbeRunOptions,
  type ProbeRunSpan,
  type SpanRecorder,
  type UpstreamAddress,
} from './spans.js';

export const DEFAULT_SERVICE_NAME = 'mcp-session-probe';

// sdk-node's readers of OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER / OTEL_TRACES_SAMPLER load
// every exporter it knows (OTLP over gRPC, protobuf and JSON, Zipkin, the B3 and Jaeger
// propagators...), about 1 MB of heap that every full GC marks. Required (it is CommonJS) only
// when the environment asks for an export.
const require = createRequire(import.meta.url);
const sdkNodeUtils = () => require('@opentelemetry/sdk-node/build/src/utils.js') as typeof SdkNodeUtils;
const sdkNodeFromEnv = () =>
  require('@opentelemetry/sdk-node/build/src/create-from-env.js') as typeof SdkNodeFromEnv;

const SCOPE = 'mcp-session-probe';

/** What the standard `OTEL_*` variables ask for. Pure, so the "nothing set → nothing exported" rule is testable. */
export interface TelemetrySettings {
  /** `OTEL_SDK_DISABLED=true`: no export at all (local `/metrics` still answers). */
  sdkDisabled: boolean;
  /** Let the SDK build span exporters from the environment (OTLP by default). */
  exportTraces: boolean;
  /** Push exporters for metrics (`otlp`, `console`); Prometheus is always served locally at /metrics. */
  metricExporters: Array<'otlp' | 'console'>;
  /** From OTEL_SERVICE_NAME, else `service.name` in OTEL_RESOURCE_ATTRIBUTES, else `mcp-session-probe`. */
  serviceName: string;
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/**
 * Export happens only when asked: an explicit `OTEL_TRACES_EXPORTER`/`OTEL_METRICS_EXPORTER`,
 * or an OTLP endpoint. (The SDK's own default is `otlp` to localhost:4318 even with nothing set,
 * which would make every run try to connect; we do not inherit that.)
 */
export function readTelemetrySettings(env: NodeJS.ProcessEnv): TelemetrySettings {
  const sdkDisabled = (env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true';
  const anyEndpoint = Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim());
  const traces = list(env['OTEL_TRACES_EXPORTER']);
  const metrics = list(env['OTEL_METRICS_EXPORTER']);
  const exportTraces =
    !sdkDisabled &&
    (traces.length > 0
      ? !traces.includes('none')
      : anyEndpoint || Boolean(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim()));
  let metricExporters: TelemetrySettings['metricExporters'] = [];
  if (!sdkDisabled) {
    if (metrics.length > 0) {
      if (!metrics.includes('none')) {
        metricExporters = metrics.filter((m): m is 'otlp' | 'console' => m === 'otlp' || m === 'console');
      }
    } else if (anyEndpoint || env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']?.trim()) metricExporters = ['otlp'];
  }
  const fromAttributes = /(?:^|,)\s*service\.name\s*=\s*([^,]+)/.exec(env['OTEL_RESOURCE_ATTRIBUTES'] ?? '');
  const serviceName = env['OTEL_SERVICE_NAME']?.trim() || fromAttributes?.[1]?.trim() || DEFAULT_SERVICE_NAME;
  return { sdkDisabled, exportTraces, metricExporters, serviceName };
}

export interface SetupTelemetryOptions {
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Span processors to use instead of those `OTEL_TRACES_EXPORTER` / `OTEL_EXPORTER_OTLP_*` ask
   * for (tests and the benchmark: in-memory or dropping exporters). Turns tracing on.
   */
  spanProcessors?: SpanProcessor[];
  /** With `spanProcessors`: the sampler (default parent-based always-on, like the SDK's). */
  sampler?: Sampler;
  /**
   * Extra metric readers (tests: an in-memory exporter's reader). Each is built by a function
   * given the producer it must list in `metricProducers`: the per-exchange instruments
   * aggregate in-process and reach readers that way.
   */
  metricReaders?: Array<(producer: MetricProducer) => IMetricReader>;
  /** Upstream URLs by id, for `server.address`/`server.port`. */
  upstreams?: ReadonlyArray<{ id: string; url: string }>;
}

/** The project's telemetry: span + metric recorders fed by the tracker, and the Prometheus text. */
export interface Telemetry {
  readonly settings: TelemetrySettings;
  /** Null when no trace export is configured: the hot path then does one check and nothing else. */
  readonly spans: SpanRecorder | null;
  readonly metrics: MetricsRecorder;
  /** ForwardContext.extraRequestHeaders: forwards a `traceparent` naming the proxy's span. */
  extraRequestHeaders(handle: ExchangeHandle, incomingTraceparent: string | null): string[] | null;
  /** ForwardContext.onStreamOpened. */
  onStreamOpened(handle: ExchangeHandle): void;
  /** SessionTracker onExchange. */
  onExchange(record: ExchangeRecord, session: SessionRecord | null, handle?: ExchangeHandle | null): void;
  /** Tee of the recorder's observation stream. */
  onObservation(obs: Observation): void;
  /** Root span for a probe run (a no-op object when tracing is off). */
  probeRun(opts: ProbeRunOptions): ProbeRunSpan;
  watch(sources: MetricSources): void;
  /** Prometheus text exposition of every metric. */
  metricsText(): Promise<string>;
  /** Flushes pending spans and metrics, then stops exporters. Idempotent. */
  shutdown(): Promise<void>;
}

const NOOP_PROBE_RUN: ProbeRunSpan = {
  traceparent: '',
  step() {},
  end() {},
};

function upstreamAddresses(upstreams: SetupTelemetryOptions['upstreams']) {
  const map = new Map<string, UpstreamAddress>();
  for (const u of upstreams ?? []) {
    try {
      const url = new URL(u.url);
      const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
      map.set(u.id, { address: url.hostname.replace(/^\[|\]$/g, ''), port });
    } catch {
      // A bad URL is the config loader's error to report, not ours.
    }
  }
  return map;
}

/** `OTEL_METRIC_EXPORT_INTERVAL` / `_TIMEOUT` (ms; defaults 60 s / 30 s, timeout at most the interval). */
export function periodicReaderFromEnv(
  exporter: PushMetricExporter,
  env: NodeJS.ProcessEnv,
  producer: MetricProducer,
): PeriodicExportingMetricReader {
  const ms = (name: string, fallback: number) => {
    const v = Number(env[name]?.trim() || Number.NaN);
    return Number.isFinite(v) && v >= 0 ? v : fallback;
  };
  const exportIntervalMillis = ms('OTEL_METRIC_EXPORT_INTERVAL', 60_000);
  const exportTimeoutMillis = Math.min(ms('OTEL_METRIC_EXPORT_TIMEOUT', 30_000), exportIntervalMillis);
  return new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis,
    exportTimeoutMillis,
    metricProducers: [producer],
  });
}

export function setupTelemetry(opts: SetupTelemetryOptions = {}): Telemetry {
  const settings = readTelemetrySettings(opts.env ?? process.env);
  let resource: Resource = resourceFromAttributes({ 'service.name': settings.serviceName });
  if (opts.env === undefined || opts.env === process.env) {
    resource = detectResources({ detectors: [envDetector] }).merge(resource);
  }

  // Metrics always exist: /metrics is a local pull, not an export.
  let metrics: MetricsRecorder | null = null;
  const env = opts.env ?? process.env;
  const readers: IMetricReader[] = [];
  const addReader = (build: (producer: MetricProducer) => IMetricReader): IMetricReader => {
    const producer = new LocalMetricProducer(() => metrics?.instruments ?? [], resource, { name: SCOPE });
    const reader = build(producer);
    producer.bindTemporality((t) => reader.selectAggregationTemporality(t));
    readers.push(reader);
    return reader;
  };
  const prometheus = addReader(
    (p) => new PrometheusExporter({ preventServerStart: true, metricProducers: [p] }),
  ) as PrometheusExporter;
  for (const build of opts.metricReaders ?? []) addReader(build);
  for (const kind of settings.metricExporters) {
    const exporter =
      kind === 'otlp' ? sdkNodeUtils().getOtlpMetricExporterFromEnv() : new ConsoleMetricExporter();
    addReader((p) => periodicReaderFromEnv(exporter, env, p));
  }
  const meterProvider = new MeterProvider({ resource, readers });
  metrics = createMetricsRecorder(meterProvider.getMeter(SCOPE));
  const serializer = new PrometheusSerializer();

  // Tracing only when asked (spanProcessors given, or OTEL_* exporters configured). No global
  // provider is registered: the proxy's spans are the only ones, and several servers can
  // share a process (tests) without sharing a pipeline.
  let tracerProvider: BasicTracerProvider | null = null;
  let spans: SpanRecorder | null = null;
  const processors =
    opts.spanProcessors ?? (settings.exportTraces ? sdkNodeUtils().getSpanProcessorsFromEnv(undefined) : []);
  if (processors.length > 0) {
    // OTEL_TRACES_SAMPLER unset or `parentbased_always_on` is the SDK's default; exchange spans
    // then decide sampling themselves (SpanRecorderOptions.sampler). Read where the SDK reads it.
    const samplerName = (process.env['OTEL_TRACES_SAMPLER'] ?? '').trim().toLowerCase();
    const defaultSampler =
      !opts.sampler &&
      (opts.spanProcessors !== undefined || samplerName === '' || samplerName === 'parentbased_always_on');
    const sampler =
      opts.sampler ??
      (defaultSampler ? undefined : sdkNodeFromEnv().createSamplerFromEnv()) ??
      new ParentBasedSampler({ root: new AlwaysOnSampler() });
    tracerProvider = new BasicTracerProvider({ resource, spanProcessors: processors, sampler });
    const addresses = upstreamAddresses(opts.upstreams);
    spans = createSpanRecorder({
      tracer: tracerProvider.getTracer(SCOPE),
      processors,
      sampler: defaultSampler ? null : sampler,
      resource,
      scope: { name: SCOPE },
      upstreamAddress: (id) => addresses.get(id),
    });
  }

  let shuttingDown: Promise<void> | null = null;
  return {
    settings,
    spans,
    metrics,
    extraRequestHeaders(handle, incomingTraceparent) {
      if (spans === null) return null;
      const tp = spans.requestStarted(handle, {
        traceparent: incomingTraceparent,
        metaTraceparent: handle.begin.request.metaTraceparent,
      });
      return tp ? ['traceparent', tp] : null;
    },
    onStreamOpened(handle) {
      spans?.streamOpened(handle);
    },
    onExchange(record, session, handle) {
      metrics.exchangeFinished(record, session);
      spans?.exchangeFinished(record, session, handle ?? null);
    },
    onObservation(obs) {
      metrics.observation(obs);
    },
    probeRun(o) {
      return spans ? spans.probeRun(o) : NOOP_PROBE_RUN;
    },
    watch(sources) {
      metrics.watch(sources);
    },
    async metricsText() {
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics);
    },
    shutdown() {
      shuttingDown ??= (async () => {
        await meterProvider.shutdown().catch(() => {});
        // Flushes the batch processors (their exporters get what is pending); processors built
        // here from the environment are stopped too, those passed in belong to the caller.
        if (opts.spanProcessors) await tracerProvider?.forceFlush().catch(() => {});
        else await tracerProvider?.shutdown().catch(() => {});
      })();
      return shuttingDown;
    },
  };
}
