// Exchange spans without sockets: ids, times read from the record, and sampling decided
// in place for the default sampler exactly as the SDK's parent-based always-on would.
import { millisToHrTime } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it, vi } from 'vitest';
import { readRequestEnvelope, readResponseEnvelope } from '../sessions/jsonrpc.js';
import { SessionTracker } from '../sessions/tracker.js';
import { setupTelemetry } from './setup.js';
import { IdPool } from './spans.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';

/** A POST of one JSON-RPC request (id 1) without a session. */
function beginRequest(tracker: SessionTracker, method: string) {
  return tracker.begin({
    upstream: 'u',
    transport: 'streamable-http',
    httpMethod: 'POST',
    sessionId: null,
    request: readRequestEnvelope(JSON.stringify({ jsonrpc: '2.0', id: 1, method })),
  });
}

/** One exchange through a tracker wired to telemetry; returns the traceparent sent upstream. */
function exchange(sampler: Sampler | undefined, incoming: string | null, clock?: () => number) {
  const exporter = new InMemorySpanExporter();
  const telemetry = setupTelemetry({
    env: {},
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(sampler ? { sampler } : {}),
  });
  const tracker = new SessionTracker({
    onObservation: telemetry.onObservation,
    onExchange: telemetry.onExchange,
    ...(clock ? { now: clock } : {}),
  });
  const h = beginRequest(tracker, 'tools/list');
  const header = telemetry.extraRequestHeaders(h, incoming);
  h.headers(200, null);
  h.message(readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}'));
  const record = h.finish();
  return { traceparent: header?.[1] ?? null, spans: exporter.getFinishedSpans(), record };
}

describe('IdPool', () => {
  it('cuts distinct lowercase hex trace and span ids of the W3C lengths', () => {
    const pool = new IdPool(64);
    const traceIds = Array.from({ length: 500 }, () => pool.traceId());
    const spanIds = Array.from({ length: 500 }, () => pool.spanId());
    for (const id of traceIds) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spanIds) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(traceIds).size).toBe(500);
    expect(new Set(spanIds).size).toBe(500);
  });

  it('never hands out an all-zero id (invalid in trace context)', () => {
    // The first pool is all zeros, the next is not.
    let calls = 0;
    const pool = new IdPool(16, (n) => Buffer.alloc(n, calls++ === 0 ? 0 : 0xab));
    expect(pool.traceId()).toBe('ab'.repeat(16));
    expect(pool.spanId()).toBe('ab'.repeat(8));
    expect(calls).toBe(3);
  });
});

describe('exchange spans', () => {
  it('take their times from the exchange record: start, end and duration, the same on every read', () => {
    let t = 1_700_000_000_123.25;
    const clock = () => {
      t += 7.5;
      return t;
    };
    const { spans, record } = exchange(undefined, null, clock);
    expect(spans).toHaveLength(1);
    const span = spans[0]!;
    expect(span.startTime).toEqual(millisToHrTime(record.startedAt));
    expect(span.endTime).toEqual(millisToHrTime(record.endedAt!));
    expect(span.duration).toEqual(millisToHrTime(record.endedAt! - record.startedAt));
    expect(span.endTime).toEqual(span.endTime);
    expect(span.ended).toBe(true);
    expect(span.links).toEqual([]);
    expect(span.droppedAttributesCount + span.droppedEventsCount + span.droppedLinksCount).toBe(0);
  });

  it('default sampling decides as the SDK parent-based always-on sampler does', () => {
    const sdkDefault = new ParentBasedSampler({ root: new AlwaysOnSampler() });
    for (const incoming of [null, `00-${TRACE}-${PARENT_SPAN}-01`, `00-${TRACE}-${PARENT_SPAN}-00`]) {
      const fast = exchange(undefined, incoming);
      const sdk = exchange(sdkDefault, incoming);
      // Same flag on the wire, same spans built, same trace when there is a parent.
      expect(fast.traceparent!.slice(-2)).toBe(sdk.traceparent!.slice(-2));
      expect(fast.spans.length).toBe(sdk.spans.length);
      if (incoming) expect(fast.traceparent!.slice(3, 35)).toBe(TRACE);
    }
    expect(exchange(undefined, null).traceparent).toMatch(/-01$/);
    expect(exchange(undefined, `00-${TRACE}-${PARENT_SPAN}-00`).spans).toEqual([]);
  });

  it('a sampler named in OTEL_TRACES_SAMPLER still decides', async () => {
    // The SDK reads its exporters and sampler from process.env.
    vi.stubEnv('OTEL_TRACES_EXPORTER', 'console');
    vi.stubEnv('OTEL_TRACES_SAMPLER', 'always_off');
    const telemetry = setupTelemetry();
    vi.unstubAllEnvs();
    expect(telemetry.spans).not.toBeNull();
    const tracker = new SessionTracker({ onObservation: () => {}, onExchange: telemetry.onExchange });
    const h = beginRequest(tracker, 'ping');
    expect(telemetry.extraRequestHeaders(h, null)?.[1]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    await telemetry.shutdown();
    const off = exchange(new AlwaysOffSampler(), null);
    expect(off.traceparent).toMatch(/-00$/);
    expect(off.spans).toEqual([]);
  });
});
