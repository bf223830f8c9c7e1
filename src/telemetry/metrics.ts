import type { Attributes, Meter } from '@opentelemetry/api';
import type { ExchangeRecord, Observation, SessionRecord } from '../sessions/types.js';
import * as sc from './semconv.js';
import { errorTypeOf } from './spans.js';

/** Live numbers read at collection time (recorder health, tracker size). */
export interface MetricSources {
  recorderStats?: () => { dropped: number; failures: number; queued: number };
  trackerSize?: () => number;
}

export interface MetricsRecorder {
  /** Every finished exchange (the tracker's `onExchange`). */
  exchangeFinished(record: ExchangeRecord, session: SessionRecord | null): void;
  /** Every observation (session open/end drive the session metrics). */
  observation(obs: Observation): void;
  /** Register gauges over parts created after telemetry (recorder, tracker). */
  watch(sources: MetricSources): void;
}

/**
 * Histograms and counters over the observation stream. Labels are low-cardinality only:
 * upstream id, source (`proxy` | `probe`), method, tool, outcome; never session ids.
 */
export function createMetricsRecorder(meter: Meter): MetricsRecorder {
  const operationDuration = meter.createHistogram(sc.METRIC_CLIENT_OPERATION_DURATION, {
    unit: 's',
    description: 'Duration of MCP requests as seen by the proxy (request start to JSON-RPC response).',
    advice: { explicitBucketBoundaries: sc.MCP_DURATION_BUCKETS },
  });
  const sessionDuration = meter.createHistogram(sc.METRIC_CLIENT_SESSION_DURATION, {
    unit: 's',
    description: 'Lifetime of MCP sessions from initialize to their end (DELETE, expiry).',
    advice: { explicitBucketBoundaries: sc.MCP_DURATION_BUCKETS },
  });
  const idleGap = meter.createHistogram(sc.METRIC_IDLE_GAP, {
    unit: 's',
    description:
      'Idle gap before each request on a known session, by outcome: survivals and expiries side by side.',
    advice: { explicitBucketBoundaries: sc.IDLE_GAP_BUCKETS },
  });
  const initDuration = meter.createHistogram(sc.METRIC_INIT_DURATION, {
    unit: 's',
    description: 'The initialize handshake round trip.',
    advice: { explicitBucketBoundaries: sc.MCP_DURATION_BUCKETS },
  });
  const expirations = meter.createCounter(sc.METRIC_EXPIRATIONS, {
    unit: '{session}',
    description: 'Sessions the upstream expired (answered with a session error).',
  });
  const active = meter.createUpDownCounter(sc.METRIC_SESSIONS_ACTIVE, {
    unit: '{session}',
    description: 'Sessions opened through the proxy or prober and not yet ended (DELETE or expiry).',
  });

  const base = (upstream: string, source: string): Attributes => ({
    [sc.ATTR_UPSTREAM]: upstream,
    [sc.ATTR_SOURCE]: source,
  });
  // Attribute sets are few (labels are low-cardinality), so build each once: the hot path then
  // allocates nothing for metrics beyond what the SDK does itself.
  const attrCache = new Map<string, Attributes>();
  const cached = (key: string, build: () => Attributes): Attributes => {
    let a = attrCache.get(key);
    if (a === undefined) {
      if (attrCache.size >= 10_000) attrCache.clear(); // a bound, should labels ever explode
      a = build();
      attrCache.set(key, a);
    }
    return a;
  };

  return {
    exchangeFinished(r, session) {
      const who = `${r.upstream}\0${r.source}`;
      if (r.httpMethod === 'POST' && r.rpcMethod && r.rpcId !== null && r.endedAt !== null) {
        const method = r.rpcMethod;
        const tool = method === 'tools/call' ? r.toolName : null;
        const errorType = errorTypeOf(r);
        const op = cached(`op\0${who}\0${method}\0${tool ?? ''}\0${errorType ?? ''}`, () => {
          const a: Attributes = { ...base(r.upstream, r.source), [sc.ATTR_MCP_METHOD_NAME]: method };
          if (tool) a[sc.ATTR_GEN_AI_TOOL_NAME] = tool;
          if (errorType) a[sc.ATTR_ERROR_TYPE] = errorType;
          return a;
        });
        operationDuration.record(((r.responseAt ?? r.endedAt) - r.startedAt) / 1000, op);
      }
      if (r.idleGapMs !== null && r.httpMethod !== 'GET') {
        const gap = cached(`gap\0${who}\0${r.outcome}\0${r.streamAttached}`, () => ({
          ...base(r.upstream, r.source),
          [sc.ATTR_OUTCOME]: r.outcome,
          [sc.ATTR_STREAM_ATTACHED]: r.streamAttached,
        }));
        idleGap.record(r.idleGapMs / 1000, gap);
      }
      if (r.outcome === 'session_expired') {
        expirations.add(1, {
          ...base(r.upstream, r.source),
          [sc.ATTR_OUTCOME_CONFIDENCE]: r.confidence ?? 'spec',
        });
      }
      if (r.rpcMethod === 'initialize' && r.outcome === 'ok' && session?.initLatencyMs != null) {
        initDuration.record(session.initLatencyMs / 1000, base(r.upstream, r.source));
      }
    },

    observation(obs) {
      if (obs.type !== 'session') return;
      const s = obs.session;
      // Adopted sessions were opened before we watched; counting their end alone would go negative.
      if (s.adopted) return;
      const attrs = base(s.upstream, s.source);
      // The tracker emits a session once with exchanges === 1 right after initialize, then on
      // each later exchange (exchanges >= 2) and once more when it ends.
      if (s.endedAt === null && s.exchanges === 1) active.add(1, attrs);
      else if (s.endedAt !== null) {
        active.add(-1, attrs);
        sessionDuration.record((s.endedAt - s.openedAt) / 1000, {
          ...attrs,
          [sc.ATTR_SESSION_END_REASON]: s.endReason ?? 'unknown',
          ...(s.endReason === 'expired' ? { [sc.ATTR_ERROR_TYPE]: 'session_expired' } : {}),
        });
      }
    },

    watch({ recorderStats, trackerSize }) {
      if (recorderStats) {
        meter
          .createObservableCounter(sc.METRIC_RECORDER_DROPPED, {
            unit: '{observation}',
            description: 'Observations dropped because the recorder queue was full or closed.',
          })
          .addCallback((r) => r.observe(recorderStats().dropped));
        meter
          .createObservableCounter(sc.METRIC_RECORDER_FAILED, {
            unit: '{batch}',
            description: 'Store writes that failed.',
          })
          .addCallback((r) => r.observe(recorderStats().failures));
        meter
          .createObservableGauge(sc.METRIC_RECORDER_QUEUED, {
            unit: '{observation}',
            description: 'Observations waiting to be written to the store.',
          })
          .addCallback((r) => r.observe(recorderStats().queued));
      }
      if (trackerSize) {
        meter
          .createObservableGauge(sc.METRIC_TRACKER_SESSIONS, {
            unit: '{session}',
            description: 'Sessions the tracker keeps in memory.',
          })
          .addCallback((r) => r.observe(trackerSize()));
      }
    },
  };
}
