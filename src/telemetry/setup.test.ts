import { TraceFlags } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_NAME, readTelemetrySettings, setupTelemetry } from './setup.js';
import { formatTraceparent, parseTraceparent } from './traceContext.js';

describe('readTelemetrySettings: export only when the standard variables ask for it', () => {
  const cases: Array<[string, NodeJS.ProcessEnv, { exportTraces: boolean; metricExporters: string[] }]> = [
    ['nothing set', {}, { exportTraces: false, metricExporters: [] }],
    ['only a service name', { OTEL_SERVICE_NAME: 'x' }, { exportTraces: false, metricExporters: [] }],
    [
      'an OTLP endpoint',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      { exportTraces: true, metricExporters: ['otlp'] },
    ],
    [
      'a traces-only endpoint',
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' },
      { exportTraces: true, metricExporters: [] },
    ],
    [
      'a metrics-only endpoint',
      { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:4318/v1/metrics' },
      { exportTraces: false, metricExporters: ['otlp'] },
    ],
    [
      'explicit traces exporter',
      { OTEL_TRACES_EXPORTER: 'otlp' },
      { exportTraces: true, metricExporters: [] },
    ],
    [
      'endpoint but exporters none',
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://h:4318',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
      },
      { exportTraces: false, metricExporters: [] },
    ],
    [
      'prometheus metrics exporter (already served at /metrics)',
      { OTEL_METRICS_EXPORTER: 'prometheus,console' },
      { exportTraces: false, metricExporters: ['console'] },
    ],
    [
      'SDK disabled wins over everything',
      {
        OTEL_SDK_DISABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://h:4318',
        OTEL_TRACES_EXPORTER: 'otlp',
      },
      { exportTraces: false, metricExporters: [] },
    ],
  ];
  it.each(cases)('%s', (_name, env, expected) => {
    expect(readTelemetrySettings(env)).toMatchObject(expected);
  });

  it('service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else mcp-session-probe', () => {
    expect(readTelemetrySettings({}).serviceName).toBe(DEFAULT_SERVICE_NAME);
    expect(readTelemetrySettings({ OTEL_RESOURCE_ATTRIBUTES: 'team=a,service.name=gw' }).serviceName).toBe(
      'gw',
    );
    expect(
      readTelemetrySettings({ OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=gw' })
        .serviceName,
    ).toBe('svc');
  });

  it('with nothing set there is no tracer at all (no span processor, no exporter) and /metrics still answers', async () => {
    const t = setupTelemetry({ env: {} });
    try {
      expect(t.spans).toBeNull();
      expect(t.extraRequestHeaders({} as never, null)).toBeNull();
      expect(t.probeRun({ upstream: 'u', mode: 'fanout' }).traceparent).toBe('');
      expect(await t.metricsText()).toContain('target_info{service_name="mcp-session-probe"} 1');
    } finally {
      await t.shutdown();
    }
  });
});

describe('traceparent', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('round-trips a valid value as a remote, sampled parent', () => {
    const ctx = parseTraceparent(tp);
    expect(ctx).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(formatTraceparent(ctx!)).toBe(tp);
  });

  it.each([
    ['absent', null],
    ['empty', ''],
    ['all-zero trace id', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    ['all-zero span id', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'],
    ['version ff', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['version 00 with trailing data', `${tp}-extra`],
    ['short trace id', '00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01'],
    ['not hex', '00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01'],
  ])('rejects %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('accepts a future version with extra fields, and upper case', () => {
    expect(parseTraceparent(`01-${tp.slice(3)}-what-ever`)?.spanId).toBe('b7ad6b7169203331');
    expect(parseTraceparent(tp.toUpperCase())?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  });

  it('keeps only the sampled flag', () => {
    expect(parseTraceparent(tp.replace(/-01$/, '-00'))?.traceFlags).toBe(TraceFlags.NONE);
    expect(parseTraceparent(tp.replace(/-01$/, '-03'))?.traceFlags).toBe(TraceFlags.SAMPLED);
  });
});
