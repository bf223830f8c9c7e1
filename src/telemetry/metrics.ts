import type { Attributes, Meter } from '@opentelemetry/api';
import type { ExchangeRecord, Observation, SessionRecord } from '../sessions/types.js';
import {
  type HistogramSeries,
  isOverflowSeries,
  LocalHistogram,
  type LocalInstrumentAny,
  LocalSum,
} from './aggregate.js';
import * as sc from './semconv.js';
import { errorTypeOf } from './spans.js';

/** Live numbers read at collection time (recorder health, tracker size). */
export interface MetricSources {
  recorderStats?: () => { dropped: number; failures: number; queued: number };
  trackerSize?: () => number;
  /** Requests the proxy's circuit breaker answered 503 at once, by upstream (a running count). */
  proxyRejections?: () => Iterable<{ upstream: string; count: number }>;
  /** Heal mode's replacements, by upstream (running counts). */
  heals?: () => Iterable<{ upstream: string; healed: number; failed: number }>;
}

export interface MetricsRecorder {
  /** Every finished exchange (the tracker's `onExchange`). */
  exchangeFinished(record: ExchangeRecord, session: SessionRecord | null): void;
  /** Every observation (session open/end drive the session metrics). */
  observation(obs: Observation): void;
  /** Register gauges over parts created after telemetry (recorder, tracker). */
  watch(sources: MetricSources): void;
  /** The in-process instruments, for each metric reader's `LocalMetricProducer`. */
  readonly instruments: readonly LocalInstrumentAny[];
  /** @internal Series held by the per-exchange lookup maps (tests: they stay bounded). */
  hotSeries(): number;
}

/**
 * Histograms and counters over the observation stream. Labels are low-cardinality only:
 * upstream id, source (`proxy` | `probe`), method, tool, outcome; never session ids.
 * The per-exchange instruments aggregate in-process (`aggregate.ts`): the SDK's own
 * synchronous instruments hash the attribute set on every record. `meter` serves the
 * observable gauges of `watch`.
 */
export function createMetricsRecorder(meter: Meter, now: () => number = Date.now): MetricsRecorder {
  const operationDuration = new LocalHistogram(
    {
      name: sc.METRIC_CLIENT_OPERATION_DURATION,
      unit: 's',
      description: 'Duration of MCP requests as seen by the proxy (request start to JSON-RPC response).',
    },
    sc.MCP_DURATION_BUCKETS,
    now,
  );
  const sessionDuration = new LocalHistogram(
    {
      name: sc.METRIC_CLIENT_SESSION_DURATION,
      unit: 's',
      description: 'Lifetime of MCP sessions from initialize to their end (DELETE, expiry).',
    },
    sc.MCP_DURATION_BUCKETS,
    now,
  );
  const idleGap = new LocalHistogram(
    {
      name: sc.METRIC_IDLE_GAP,
      unit: 's',
      description:
        'Idle gap before each request on a known session, by outcome: survivals and expiries side by side.',
    },
    sc.IDLE_GAP_BUCKETS,
    now,
  );
  const initDuration = new LocalHistogram(
    { name: sc.METRIC_INIT_DURATION, unit: 's', description: 'The initialize handshake round trip.' },
    sc.MCP_DURATION_BUCKETS,
    now,
  );
  const expirations = new LocalSum(
    {
      name: sc.METRIC_EXPIRATIONS,
      unit: '{session}',
      description: 'Sessions the upstream expired (answered with a session error).',
    },
    true,
    now,
  );
  const active = new LocalSum(
    {
      name: sc.METRIC_SESSIONS_ACTIVE,
      unit: '{session}',
      description: 'Sessions opened through the proxy or prober and not yet ended (DELETE or expiry).',
    },
    false,
    now,
  );

  const base = (upstream: string, source: string): Attributes => ({
    [sc.ATTR_UPSTREAM]: upstream,
    [sc.ATTR_SOURCE]: source,
  });

  // The two series every exchange records into, found without building a key: per upstream and
  // source (strings the tracker hands over as the same objects each time), then per method or
  // outcome. A series, once created, is never removed, so holding it here is safe; the keyed
  // lookup below stays the one place series are created, so both paths share each series. An
  // overflow series is never held here: methods come from clients, and a map keyed by every new
  // name past the cardinality limit would grow without bound.
  interface Hot {
    who: string;
    /** operation duration of answered requests without a tool or an error, by method */
    ops: Map<string, HistogramSeries>;
    /** idle gap by outcome, without [0] and with [1] a stream attached */
    idle: [Map<string, HistogramSeries>, Map<string, HistogramSeries>];
  }
  const hot = new Map<string, Map<string, Hot>>();
  const hotFor = (upstream: string, source: string): Hot => {
    let bySource = hot.get(upstream);
    if (bySource === undefined) {
      bySource = new Map();
      hot.set(upstream, bySource);
    }
    let h = bySource.get(source);
    if (h === undefined) {
      h = { who: `${upstream}\0${source}`, ops: new Map(), idle: [new Map(), new Map()] };
      bySource.set(source, h);
    }
    return h;
  };
  const operationSeries = (
    r: ExchangeRecord,
    who: string,
    method: string,
    tool: string | null,
    errorType: string | null,
  ) =>
    operationDuration.series(`${who}\0${method}\0${tool ?? ''}\0${errorType ?? ''}`, () => {
      const a: Attributes = { ...base(r.upstream, r.source), [sc.ATTR_MCP_METHOD_NAME]: method };
      if (tool) a[sc.ATTR_GEN_AI_TOOL_NAME] = tool;
      if (errorType) a[sc.ATTR_ERROR_TYPE] = errorType;
      return a;
    });

  return {
    instruments: [operationDuration, sessionDuration, idleGap, initDuration, expirations, active],

    hotSeries() {
      let n = 0;
      for (const bySource of hot.values())
        for (const h of bySource.values()) n += h.ops.size + h.idle[0].size + h.idle[1].size;
      return n;
    },

    exchangeFinished(r, session) {
      const h = hotFor(r.upstream, r.source);
      const who = h.who;
      if (r.httpMethod === 'POST' && r.rpcMethod && r.rpcId !== null && r.endedAt !== null) {
        const method = r.rpcMethod;
        const tool = method === 'tools/call' ? r.toolName : null;
        const errorType = errorTypeOf(r);
        let series: HistogramSeries | undefined;
        if (tool || errorType) series = operationSeries(r, who, method, tool ?? null, errorType);
        else {
          series = h.ops.get(method);
          if (series === undefined) {
            series = operationSeries(r, who, method, null, null);
            if (!isOverflowSeries(series)) h.ops.set(method, series);
          }
        }
        series.record(((r.responseAt ?? r.endedAt) - r.startedAt) / 1000);
      }
      if (r.idleGapMs !== null && r.httpMethod !== 'GET') {
        const byOutcome = h.idle[r.streamAttached ? 1 : 0];
        let series = byOutcome.get(r.outcome);
        if (series === undefined) {
          series = idleGap.series(`${who}\0${r.outcome}\0${r.streamAttached}`, () => ({
            ...base(r.upstream, r.source),
            [sc.ATTR_OUTCOME]: r.outcome,
            [sc.ATTR_STREAM_ATTACHED]: r.streamAttached,
          }));
          if (!isOverflowSeries(series)) byOutcome.set(r.outcome, series);
        }
        series.record(r.idleGapMs / 1000);
      }
      if (r.outcome === 'session_expired') {
        const confidence = r.confidence ?? 'spec';
        expirations
          .series(`${who}\0${confidence}`, () => ({
            ...base(r.upstream, r.source),
            [sc.ATTR_OUTCOME_CONFIDENCE]: confidence,
          }))
          .add(1);
      }
      if (r.rpcMethod === 'initialize' && r.outcome === 'ok' && session?.initLatencyMs != null) {
        initDuration.series(who, () => base(r.upstream, r.source)).record(session.initLatencyMs / 1000);
      }
    },

    observation(obs) {
      if (obs.type !== 'session') return;
      const s = obs.session;
      // Adopted sessions were opened before we watched; counting their end alone would go negative.
      if (s.adopted) return;
      const who = `${s.upstream}\0${s.source}`;
      // The tracker emits a session once with exchanges === 1 right after initialize, then on
      // each later exchange (exchanges >= 2) and once more when it ends.
      if (s.endedAt === null && s.exchanges === 1)
        active.series(who, () => base(s.upstream, s.source)).add(1);
      else if (s.endedAt !== null) {
        active.series(who, () => base(s.upstream, s.source)).add(-1);
        const reason = s.endReason ?? 'unknown';
        sessionDuration
          .series(`${who}\0${reason}`, () => ({
            ...base(s.upstream, s.source),
            [sc.ATTR_SESSION_END_REASON]: reason,
            ...(reason === 'expired' ? { [sc.ATTR_ERROR_TYPE]: 'session_expired' } : {}),
          }))
          .record((s.endedAt - s.openedAt) / 1000);
      }
    },

    watch({ recorderStats, trackerSize, proxyRejections, heals }) {
      if (heals) {
        meter
          .createObservableCounter(sc.METRIC_HEALS, {
            unit: '{session}',
            description: 'Expired upstream sessions heal mode replaced (healed) or could not (failed).',
          })
          .addCallback((r) => {
            for (const { upstream, healed, failed } of heals()) {
              r.observe(healed, { [sc.ATTR_UPSTREAM]: upstream, [sc.ATTR_HEAL_RESULT]: 'healed' });
              r.observe(failed, { [sc.ATTR_UPSTREAM]: upstream, [sc.ATTR_HEAL_RESULT]: 'failed' });
            }
          });
      }
      if (proxyRejections) {
        meter
          .createObservableCounter(sc.METRIC_PROXY_REJECTED, {
            unit: '{request}',
            description:
              'Requests answered 503 with Retry-After at once because the upstream had maxConcurrentRequests in flight.',
          })
          .addCallback((r) => {
            for (const { upstream, count } of proxyRejections())
              r.observe(count, { [sc.ATTR_UPSTREAM]: upstream });
          });
      }
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
