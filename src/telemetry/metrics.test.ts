import { metrics } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import type { ExchangeRecord } from '../sessions/types.js';
import { CARDINALITY_LIMIT, type HistogramSeries, type LocalInstrumentAny } from './aggregate.js';
import { createMetricsRecorder } from './metrics.js';
import * as sc from './semconv.js';

function exchange(over: Partial<ExchangeRecord>): ExchangeRecord {
  return {
    upstream: 'a',
    source: 'proxy',
    probeRunId: null,
    transport: 'streamable-http',
    sessionHash: 'h',
    httpMethod: 'POST',
    rpcMethod: 'ping',
    rpcCount: 1,
    toolName: null,
    rpcId: '1',
    startedAt: 1_000,
    headersAt: 1_010,
    responseAt: 1_020,
    endedAt: 1_030,
    httpStatus: 200,
    outcome: 'ok',
    confidence: null,
    idleGapMs: 500,
    sessionAgeMs: 2_000,
    streamAttached: false,
    exchangesBefore: 1,
    protocolVersion: null,
    era: null,
    upstreamVersions: null,
    callerHash: null,
    rpcErrorCode: null,
    errorMessage: null,
    healed: false,
    healLatencyMs: null,
    ...over,
  };
}

/** Every series of one instrument: its attributes with its count and sum. */
function seriesOf(instruments: readonly LocalInstrumentAny[], name: string) {
  const i = instruments.find((x) => x.descriptor.name === name)!;
  return [...i.entries()].map(([, s]) => {
    const h = s as HistogramSeries;
    return { attributes: h.attributes, count: h.count, sum: Math.round(h.sum * 1000) / 1000 };
  });
}

describe('metrics recorder, per-exchange series', () => {
  it('keeps one series per attribute set, whichever lookup path a record takes', () => {
    const m = createMetricsRecorder(metrics.getMeter('test'));
    // Fresh method strings each time, as JSON.parse hands them over.
    const method = (name: string) => (JSON.parse(`{"m":"${name}"}`) as { m: string }).m;
    for (let i = 0; i < 3; i++) m.exchangeFinished(exchange({ rpcMethod: method('ping') }), null);
    m.exchangeFinished(exchange({ upstream: 'b', rpcMethod: method('ping') }), null);
    m.exchangeFinished(exchange({ source: 'probe', rpcMethod: method('ping'), idleGapMs: 1_500 }), null);
    m.exchangeFinished(exchange({ rpcMethod: method('tools/list'), streamAttached: true }), null);
    m.exchangeFinished(exchange({ rpcMethod: method('tools/call'), toolName: 'echo' }), null);
    m.exchangeFinished(exchange({ rpcMethod: method('tools/call'), toolName: 'echo' }), null);
    m.exchangeFinished(
      exchange({ outcome: 'rpc_error', rpcErrorCode: -32601, rpcMethod: method('ping'), idleGapMs: null }),
      null,
    );
    m.exchangeFinished(
      exchange({ outcome: 'session_expired', confidence: 'spec', httpStatus: 404, responseAt: null }),
      null,
    );
    // Not an answered request: no operation duration; GET: no idle gap.
    m.exchangeFinished(exchange({ rpcMethod: method('notifications/initialized'), rpcId: null }), null);
    m.exchangeFinished(exchange({ httpMethod: 'GET', rpcMethod: null, rpcId: null }), null);

    const base = (upstream = 'a', source = 'proxy') => ({
      [sc.ATTR_UPSTREAM]: upstream,
      [sc.ATTR_SOURCE]: source,
    });
    const op = (method: string, over: object = {}) => ({
      ...base(),
      [sc.ATTR_MCP_METHOD_NAME]: method,
      ...over,
    });
    const ops = seriesOf(m.instruments, sc.METRIC_CLIENT_OPERATION_DURATION);
    expect(ops).toEqual(
      expect.arrayContaining([
        { attributes: op('ping'), count: 3, sum: 0.06 },
        { attributes: op('ping', base('b')), count: 1, sum: 0.02 },
        { attributes: op('ping', base('a', 'probe')), count: 1, sum: 0.02 },
        { attributes: op('tools/list'), count: 1, sum: 0.02 },
        { attributes: op('tools/call', { [sc.ATTR_GEN_AI_TOOL_NAME]: 'echo' }), count: 2, sum: 0.04 },
        { attributes: op('ping', { [sc.ATTR_ERROR_TYPE]: '-32601' }), count: 1, sum: 0.02 },
        { attributes: op('ping', { [sc.ATTR_ERROR_TYPE]: 'session_expired' }), count: 1, sum: 0.03 },
      ]),
    );
    expect(ops).toHaveLength(7);

    const gaps = seriesOf(m.instruments, sc.METRIC_IDLE_GAP);
    const gap = (over: object) => ({
      ...base(),
      [sc.ATTR_OUTCOME]: 'ok',
      [sc.ATTR_STREAM_ATTACHED]: false,
      ...over,
    });
    expect(gaps).toEqual(
      expect.arrayContaining([
        // 3 pings, 2 tools/call, the notification
        { attributes: gap({}), count: 6, sum: 3 },
        { attributes: gap(base('b')), count: 1, sum: 0.5 },
        { attributes: gap(base('a', 'probe')), count: 1, sum: 1.5 },
        { attributes: gap({ [sc.ATTR_STREAM_ATTACHED]: true }), count: 1, sum: 0.5 },
        { attributes: gap({ [sc.ATTR_OUTCOME]: 'session_expired' }), count: 1, sum: 0.5 },
      ]),
    );
    expect(gaps).toHaveLength(5);
  });

  it('stays bounded when clients send ever new method names: past the limit they share the overflow series', () => {
    const m = createMetricsRecorder(metrics.getMeter('test'));
    const extra = 300;
    for (let i = 0; i < CARDINALITY_LIMIT + extra; i++)
      m.exchangeFinished(exchange({ rpcMethod: `m${i}` }), null);
    // Again: a method past the limit keeps going to the overflow series, not to a series of its own.
    for (let i = CARDINALITY_LIMIT; i < CARDINALITY_LIMIT + extra; i++)
      m.exchangeFinished(exchange({ rpcMethod: `m${i}` }), null);
    const ops = seriesOf(m.instruments, sc.METRIC_CLIENT_OPERATION_DURATION);
    expect(ops).toHaveLength(CARDINALITY_LIMIT + 1);
    expect(ops.find((o) => o.attributes['otel.metric.overflow'] === true)?.count).toBe(2 * extra);
    // The lookup maps hold the real series only (plus the one idle-gap series).
    expect(m.hotSeries()).toBe(CARDINALITY_LIMIT + 1);
  });
});
