// Spans and metrics of real proxied traffic, captured with the SDK's in-memory exporters:
// the real serve stack on loopback, the demo upstream on the official MCP SDK, raw HTTP clients.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  InMemorySpanExporter,
  type ReadableSpan,
  type Sampler,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import {
  initializeSession,
  openEventStream,
  postJsonRpc,
  toolsListMessage,
  upstreamPool,
} from '../../test/fixtures/upstreams.js';
import { upstreamConfig } from '../../test/helpers/proxy.js';
import { defaultConfig } from '../config/load.js';
import type { UpstreamConfig } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { startProbeRun } from '../probe/run.js';
import { hashSessionId } from '../security/hash.js';
import { type RunningServer, startServer } from '../server.js';
import { readRequestEnvelope, readResponseEnvelope } from '../sessions/jsonrpc.js';
import { SessionTracker } from '../sessions/tracker.js';
import * as sc from './semconv.js';
import { setupTelemetry } from './setup.js';

function memoryTelemetry(upstreams: UpstreamConfig[] = [], sampler?: Sampler) {
  const spanExporter = new InMemorySpanExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  let metricReader: PeriodicExportingMetricReader | null = null;
  const telemetry = setupTelemetry({
    env: {},
    spanProcessors: [new SimpleSpanProcessor(spanExporter)],
    ...(sampler ? { sampler } : {}),
    metricReaders: [
      (producer) =>
        (metricReader = new PeriodicExportingMetricReader({
          exporter: metricExporter,
          exportIntervalMillis: 3_600_000,
          metricProducers: [producer],
        })),
    ],
    upstreams,
  });
  return {
    telemetry,
    spans: () => spanExporter.getFinishedSpans(),
    span(name: string): ReadableSpan {
      const found = spanExporter.getFinishedSpans().filter((s) => s.name === name);
      expect(found.map((s) => s.name)).toEqual([name]);
      return found[0]!;
    },
    async metrics(): Promise<ResourceMetrics> {
      metricExporter.reset();
      await metricReader!.forceFlush();
      return metricExporter.getMetrics().at(-1)!;
    },
  };
}

function points(rm: ResourceMetrics, name: string): DataPoint<unknown>[] {
  return rm.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)?.dataPoints ?? [];
}

const incomingParent = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
};
const metaParent = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
};

const servers: RunningServer[] = [];
const upstreams = upstreamPool();
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await upstreams.closeAll();
});

async function startProxy(upstreamConfigs: UpstreamConfig[], telemetry = memoryTelemetry(upstreamConfigs)) {
  const base = defaultConfig();
  const running = await startServer({
    config: {
      ...base,
      upstreams: upstreamConfigs,
      server: { ...base.server, port: 0, host: '127.0.0.1', shutdownGraceSeconds: 1 },
      storage: { url: 'sqlite::memory:' },
    },
    logger: silentLogger,
    telemetry: telemetry.telemetry,
  });
  servers.push(running);
  return { running, t: telemetry, url: (id: string) => `${running.url}/mcp/${id}` };
}

describe('sessions.active', () => {
  it('goes back down when the tracker evicts sessions nobody ended', async () => {
    const t = memoryTelemetry();
    let clock = 1_000_000;
    const tracker = new SessionTracker({
      onObservation: t.telemetry.onObservation,
      onExchange: t.telemetry.onExchange,
      now: () => clock,
      evictIdleAfterMs: 60_000,
    });
    for (const sid of ['s1', 's2']) {
      const h = tracker.begin({
        upstream: 'linear',
        transport: 'streamable-http',
        httpMethod: 'POST',
        sessionId: null,
        request: readRequestEnvelope('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}'),
      });
      clock += 10;
      h.headers(200, sid);
      h.message(readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}'));
      h.finish();
    }
    expect(points(await t.metrics(), sc.METRIC_SESSIONS_ACTIVE)[0]?.value).toBe(2);
    clock += 61_000;
    tracker.sweep();
    const rm = await t.metrics();
    expect(points(rm, sc.METRIC_SESSIONS_ACTIVE)[0]?.value).toBe(0);
    const lifetimes = points(rm, sc.METRIC_CLIENT_SESSION_DURATION) as DataPoint<Histogram>[];
    expect(lifetimes.map((p) => [p.attributes[sc.ATTR_SESSION_END_REASON], p.value.count])).toEqual([
      ['evicted', 2],
    ]);
    await t.telemetry.shutdown();
  });
});

describe('request spans', () => {
  it('initialize: client and server name/version, handshake latency, hashed session id, parent from the traceparent header', async () => {
    const upstream = await upstreams.start({});
    const { t, url } = await startProxy([upstreamConfig('demo', upstream.url)]);

    const { sessionId } = await initializeSession(url('demo'), {
      headers: { traceparent: `00-${incomingParent.traceId}-${incomingParent.spanId}-01` },
    });
    expect(sessionId).toBeTruthy();

    const span = t.span('initialize');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.spanContext().traceId).toBe(incomingParent.traceId);
    expect(span.parentSpanContext?.spanId).toBe(incomingParent.spanId);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const a = span.attributes;
    expect(a[sc.ATTR_MCP_METHOD_NAME]).toBe('initialize');
    expect(a[sc.ATTR_JSONRPC_REQUEST_ID]).toBe('1');
    expect(a[sc.ATTR_MCP_SESSION_ID]).toBe(hashSessionId(sessionId!));
    expect(a[sc.ATTR_MCP_SESSION_ID]).not.toBe(sessionId);
    expect(a[sc.ATTR_CLIENT_NAME]).toBe('mcp-session-probe-tests');
    expect(a[sc.ATTR_CLIENT_VERSION]).toBe('0.0.0');
    expect(a[sc.ATTR_SERVER_NAME]).toBe('mcp-session-probe-demo');
    expect(a[sc.ATTR_SERVER_VERSION]).toBe('0.1.0');
    expect(a[sc.ATTR_UPSTREAM]).toBe('demo');
    expect(a[sc.ATTR_SOURCE]).toBe('proxy');
    expect(a[sc.ATTR_OUTCOME]).toBe('ok');
    expect(a[sc.ATTR_MCP_PROTOCOL_VERSION]).toEqual(expect.any(String));
    expect(a[sc.ATTR_NETWORK_TRANSPORT]).toBe('tcp');
    expect(a[sc.ATTR_SERVER_ADDRESS]).toBe('127.0.0.1');
    expect(a[sc.ATTR_SERVER_PORT]).toBe(upstream.port);
    const latency = a[sc.ATTR_INIT_LATENCY] as number;
    const spanSeconds = span.duration[0] + span.duration[1] / 1e9;
    expect(latency).toBeGreaterThan(0);
    expect(latency).toBeLessThanOrEqual(spanSeconds + 0.001);

    const rm = await t.metrics();
    const init = points(rm, sc.METRIC_INIT_DURATION) as DataPoint<Histogram>[];
    expect(init).toHaveLength(1);
    expect(init[0]!.value.count).toBe(1);
    expect(init[0]!.attributes).toEqual({ [sc.ATTR_UPSTREAM]: 'demo', [sc.ATTR_SOURCE]: 'proxy' });
    expect(points(rm, sc.METRIC_SESSIONS_ACTIVE)[0]?.value).toBe(1);
  });

  it('tools/call: span `tools/call echo` with gen_ai attributes, parented by params._meta.traceparent (SEP-414)', async () => {
    const upstream = await upstreams.start({});
    const { t, url } = await startProxy([upstreamConfig('demo', upstream.url)]);
    const { sessionId } = await initializeSession(url('demo'));
    const res = await postJsonRpc(
      url('demo'),
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name: 'echo',
          arguments: { text: 'hi' },
          _meta: { traceparent: `00-${metaParent.traceId}-${metaParent.spanId}-01` },
        },
      },
      { sessionId },
    );
    expect(res.status).toBe(200);

    const span = t.span('tools/call echo');
    expect(span.spanContext().traceId).toBe(metaParent.traceId);
    expect(span.parentSpanContext?.spanId).toBe(metaParent.spanId);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toMatchObject({
      [sc.ATTR_MCP_METHOD_NAME]: 'tools/call',
      [sc.ATTR_GEN_AI_TOOL_NAME]: 'echo',
      [sc.ATTR_GEN_AI_OPERATION_NAME]: 'execute_tool',
      [sc.ATTR_JSONRPC_REQUEST_ID]: '7',
      [sc.ATTR_MCP_SESSION_ID]: hashSessionId(sessionId!),
      [sc.ATTR_OUTCOME]: 'ok',
      [sc.ATTR_SESSION_AGE]: expect.any(Number),
      [sc.ATTR_IDLE_GAP]: expect.any(Number),
      [sc.ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
    });
    expect(span.attributes[sc.ATTR_ERROR_TYPE]).toBeUndefined();
    // The body was not rewritten: the upstream answered the same id.
    expect((res.messages[0] as { id: number }).id).toBe(7);

    const op = points(await t.metrics(), sc.METRIC_CLIENT_OPERATION_DURATION) as DataPoint<Histogram>[];
    const call = op.find((p) => p.attributes[sc.ATTR_MCP_METHOD_NAME] === 'tools/call');
    expect(call?.attributes).toEqual({
      [sc.ATTR_UPSTREAM]: 'demo',
      [sc.ATTR_SOURCE]: 'proxy',
      [sc.ATTR_MCP_METHOD_NAME]: 'tools/call',
      [sc.ATTR_GEN_AI_TOOL_NAME]: 'echo',
    });
    expect(call?.value.count).toBe(1);
    expect(call?.value.buckets.boundaries).toEqual(sc.MCP_DURATION_BUCKETS);
  });

  it('expiry: ERROR span with error.type=session_expired and the idle gap within 0.1 s of the real one', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 250 });
    const { t, url } = await startProxy([upstreamConfig('demo', upstream.url)]);
    const { sessionId } = await initializeSession(url('demo'));
    const lastActivity = performance.now();
    await new Promise((r) => setTimeout(r, 600));
    const sentAt = performance.now();
    const res = await postJsonRpc(url('demo'), toolsListMessage(3), { sessionId });
    expect(res.status).toBe(404);
    const realGapSeconds = (sentAt - lastActivity) / 1000;

    const span = t.span('tools/list');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes[sc.ATTR_ERROR_TYPE]).toBe('session_expired');
    expect(span.attributes[sc.ATTR_OUTCOME]).toBe('session_expired');
    expect(span.attributes[sc.ATTR_OUTCOME_CONFIDENCE]).toBe('spec');
    expect(span.attributes[sc.ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(404);
    const gap = span.attributes[sc.ATTR_IDLE_GAP] as number;
    expect(Math.abs(gap - realGapSeconds)).toBeLessThan(0.1);
    expect(span.attributes[sc.ATTR_SESSION_AGE] as number).toBeGreaterThanOrEqual(gap);
    expect(span.events.map((e) => e.name)).toEqual([sc.EVENT_SESSION_EXPIRED]);

    const rm = await t.metrics();
    expect(points(rm, sc.METRIC_EXPIRATIONS)).toEqual([
      expect.objectContaining({
        value: 1,
        attributes: {
          [sc.ATTR_UPSTREAM]: 'demo',
          [sc.ATTR_SOURCE]: 'proxy',
          [sc.ATTR_OUTCOME_CONFIDENCE]: 'spec',
        },
      }),
    ]);
    const gaps = points(rm, sc.METRIC_IDLE_GAP) as DataPoint<Histogram>[];
    const expired = gaps.find((p) => p.attributes[sc.ATTR_OUTCOME] === 'session_expired');
    expect(expired?.value.count).toBe(1);
    expect(Math.abs((expired?.value.sum ?? 0) - realGapSeconds)).toBeLessThan(0.1);
    // Survivals are visible too: notifications/initialized came right after initialize.
    expect(gaps.find((p) => p.attributes[sc.ATTR_OUTCOME] === 'ok')?.value.count).toBe(1);
    // The expired session is no longer active, and its lifetime was recorded.
    expect(points(rm, sc.METRIC_SESSIONS_ACTIVE)[0]?.value).toBe(0);
    const lifetimes = points(rm, sc.METRIC_CLIENT_SESSION_DURATION) as DataPoint<Histogram>[];
    expect(lifetimes[0]?.attributes[sc.ATTR_ERROR_TYPE]).toBe('session_expired');
  });
});

/** A bare upstream that records request headers and answers every POST with `answer(id)` (default: an empty result). */
async function recordingUpstream(
  answer: (id: unknown) => object = (id) => ({ jsonrpc: '2.0', id, result: {} }),
): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const id = (JSON.parse(body || '{}') as { id?: unknown }).id ?? null;
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'sess-raw-1234' });
      res.end(JSON.stringify(answer(id)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/mcp`, seen, server };
}

describe('traceparent propagation', () => {
  it('replaces the client traceparent with one naming the proxy span, in the same trace', async () => {
    const up = await recordingUpstream();
    try {
      const { t, url } = await startProxy([upstreamConfig('rec', up.url)]);
      const res = await postJsonRpc(url('rec'), toolsListMessage(1), {
        headers: { traceparent: `00-${incomingParent.traceId}-${incomingParent.spanId}-01` },
      });
      expect(res.status).toBe(200);
      const span = t.span('tools/list');
      expect(up.seen).toHaveLength(1);
      expect(up.seen[0]!['traceparent']).toBe(`00-${incomingParent.traceId}-${span.spanContext().spanId}-01`);
    } finally {
      up.server.close();
    }
  });

  it('sampling: an unsampled parent or a sampler saying no builds no span, yet upstream still gets a traceparent in the trace', async () => {
    const up = await recordingUpstream();
    try {
      const { t, url } = await startProxy([upstreamConfig('rec', up.url)]);
      await postJsonRpc(url('rec'), toolsListMessage(1), {
        headers: { traceparent: `00-${incomingParent.traceId}-${incomingParent.spanId}-00` },
      });
      const off = memoryTelemetry([], new AlwaysOffSampler());
      const { url: url2 } = await startProxy([upstreamConfig('rec', up.url)], { ...off });
      await postJsonRpc(url2('rec'), toolsListMessage(2));
      expect(t.spans()).toEqual([]);
      expect(off.spans()).toEqual([]);
      const [first, second] = up.seen.map((h) => h['traceparent'] as string);
      // Same trace as the caller, a new span id (the proxy's), not sampled.
      expect(first).toMatch(new RegExp(`^00-${incomingParent.traceId}-[0-9a-f]{16}-00$`));
      expect(first).not.toContain(incomingParent.spanId);
      expect(second).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    } finally {
      up.server.close();
    }
  });

  it('without a tracer adds nothing and passes the client traceparent through untouched', async () => {
    const up = await recordingUpstream();
    try {
      const off = setupTelemetry({ env: {} });
      expect(off.spans).toBeNull();
      const { url } = await startProxy([upstreamConfig('rec', up.url)], {
        ...memoryTelemetry(),
        telemetry: off,
      });
      const tp = `00-${incomingParent.traceId}-${incomingParent.spanId}-01`;
      await postJsonRpc(url('rec'), toolsListMessage(1), { headers: { traceparent: tp } });
      await postJsonRpc(url('rec'), toolsListMessage(2));
      expect(up.seen.map((h) => h['traceparent'])).toEqual([tp, undefined]);
    } finally {
      up.server.close();
    }
  });
});

describe('GET streams and secrets', () => {
  it('a standalone GET stream is two short spans (open, close), the close carrying how long it stayed open', async () => {
    const upstream = await upstreams.start({});
    const { t, url } = await startProxy([upstreamConfig('demo', upstream.url)]);
    const { sessionId } = await initializeSession(url('demo'));
    const stream = await openEventStream(url('demo'), { sessionId });
    expect(stream.status).toBe(200);
    const openedAt = performance.now();
    await new Promise((r) => setTimeout(r, 400));
    stream.close();
    const heldSeconds = (performance.now() - openedAt) / 1000;
    for (let i = 0; i < 100 && !t.spans().some((s) => s.name === sc.SPAN_STREAM_CLOSE); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }

    const open = t.span(sc.SPAN_STREAM_OPEN);
    const close = t.span(sc.SPAN_STREAM_CLOSE);
    const secondsOf = (s: ReadableSpan) => s.duration[0] + s.duration[1] / 1e9;
    // Neither span lasts as long as the stream did.
    expect(secondsOf(open)).toBeLessThan(0.2);
    expect(secondsOf(close)).toBeLessThan(0.01);
    expect(open.attributes[sc.ATTR_MCP_SESSION_ID]).toBe(hashSessionId(sessionId!));
    expect(close.parentSpanContext?.spanId).toBe(open.spanContext().spanId);
    expect(close.spanContext().traceId).toBe(open.spanContext().traceId);
    expect(Math.abs((close.attributes[sc.ATTR_STREAM_DURATION] as number) - heldSeconds)).toBeLessThan(0.1);
  });

  it('secrets in an upstream error message and the raw session id never reach a span', async () => {
    const secret = 'sk-live-PLANTEDsecretVALUE0123456789abcdef';
    const up = await recordingUpstream((id) => ({
      jsonrpc: '2.0',
      id,
      error: { code: -32000, message: `backend refused Authorization: Bearer ${secret} (api_key=${secret})` },
    }));
    try {
      const { t, url } = await startProxy([upstreamConfig('rec', up.url)]);
      const res = await postJsonRpc(url('rec'), toolsListMessage(1), {
        headers: { authorization: `Bearer ${secret}` },
      });
      expect(res.text).toContain(secret); // the agent sees the upstream's answer unchanged
      const span = t.span('tools/list');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes[sc.ATTR_ERROR_TYPE]).toBe('-32000');
      expect(span.status.message).toContain('backend refused');
      const exported = JSON.stringify(
        t
          .spans()
          .map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
      );
      expect(exported).not.toContain(secret);
      expect(exported).not.toContain('sess-raw-1234');
      expect(JSON.stringify(await t.metrics())).not.toContain(secret);
    } finally {
      up.server.close();
    }
  });
});

describe('probe spans', () => {
  it('a probe run is a root span `mcpprobe.probe {upstream}` with a child per step and per probe exchange', async () => {
    const t = memoryTelemetry();
    let clock = 1_000_000;
    const tracker = new SessionTracker({
      source: 'probe',
      onObservation: t.telemetry.onObservation,
      onExchange: t.telemetry.onExchange,
      now: () => clock,
    });
    const run = t.telemetry.probeRun({
      upstream: 'linear',
      mode: 'ladder',
      runId: 'run-1',
      startedAt: clock,
    });

    const init = tracker.begin({
      upstream: 'linear',
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: null,
      request: readRequestEnvelope(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { clientInfo: { name: 'p', version: '1' } },
        }),
      ),
      probeRunId: 'run-1',
    });
    clock += 120;
    init.headers(200, 'probe-session-raw');
    init.message({
      id: '1',
      method: null,
      isResponse: true,
      hasError: false,
      errorCode: null,
      errorMessage: null,
    });
    init.finish();
    run.step({ name: 'idle 30s', startedAt: clock, endedAt: clock + 30_000, idleTargetSeconds: 30 });
    clock += 30_000;
    run.step({
      name: 'tools/list after 30s',
      startedAt: clock,
      endedAt: clock + 50,
      errorType: 'session_expired',
      errorMessage: 'HTTP 404',
    });
    run.end({ endedAt: clock + 60 });

    const root = t.span('mcpprobe.probe linear');
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({
      [sc.ATTR_UPSTREAM]: 'linear',
      [sc.ATTR_PROBE_MODE]: 'ladder',
      [sc.ATTR_PROBE_RUN_ID]: 'run-1',
      [sc.ATTR_SOURCE]: 'probe',
    });
    const children = t.spans().filter((s) => s !== root);
    expect(children.map((s) => s.name).sort()).toEqual(['idle 30s', 'initialize', 'tools/list after 30s']);
    for (const child of children) {
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    }
    const failed = t.span('tools/list after 30s');
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes[sc.ATTR_ERROR_TYPE]).toBe('session_expired');
    expect(t.span('idle 30s').attributes[sc.ATTR_PROBE_IDLE_TARGET]).toBe(30);
    expect(t.span('initialize').attributes[sc.ATTR_MCP_SESSION_ID]).toBe(hashSessionId('probe-session-raw'));

    // Probe traffic is labelled apart from agent traffic.
    const init2 = points(await t.metrics(), sc.METRIC_INIT_DURATION) as DataPoint<Histogram>[];
    expect(init2.map((p) => p.attributes[sc.ATTR_SOURCE])).toEqual(['probe']);
    expect(init2[0]!.value.sum).toBeCloseTo(0.12, 5);
  });

  it('the real prober: one root span per upstream, its initialize, checkpoint and tools/list spans as children', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 200 });
    const t = memoryTelemetry();
    const run = startProbeRun({
      upstreams: [{ id: 'fixture', url: upstream.url, headers: {}, timeoutSeconds: 5 }],
      mode: 'fanout',
      intervalsSeconds: [0.4],
      record: t.telemetry.onObservation,
      telemetry: t.telemetry,
    });
    const result = await run.done;
    expect(result.results[0]!.checkpoints.map((c) => [c.idleSecondsTarget, c.errorType])).toEqual([
      [0.4, 'session_expired'],
    ]);

    const root = t.span('mcpprobe.probe fixture');
    expect(root.attributes).toMatchObject({ [sc.ATTR_PROBE_MODE]: 'fanout', [sc.ATTR_PROBE_RUN_ID]: run.id });
    const children = t.spans().filter((s) => s !== root);
    for (const child of children) {
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(child.attributes[sc.ATTR_SOURCE]).toBe('probe');
    }
    const names = children.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['initialize', 'tools/list', 'checkpoint 0.4s']));
    const expired = t.span('checkpoint 0.4s');
    expect(expired.status.code).toBe(SpanStatusCode.ERROR);
    expect(expired.attributes[sc.ATTR_ERROR_TYPE]).toBe('session_expired');
    const expiredCalls = children.filter((s) => s.attributes[sc.ATTR_OUTCOME] === 'session_expired');
    expect(expiredCalls.length).toBeGreaterThanOrEqual(1);
    expect(expiredCalls[0]!.attributes[sc.ATTR_IDLE_GAP] as number).toBeGreaterThanOrEqual(0.4);
    // Never a tools/call from the prober.
    expect(names.some((n) => n.startsWith('tools/call'))).toBe(false);

    const expirations = points(await t.metrics(), sc.METRIC_EXPIRATIONS);
    expect(expirations.map((p) => p.attributes[sc.ATTR_SOURCE])).toEqual(['probe']);
  });
});
