// `npm run bench -- --breakdown`: where a proxied request's bookkeeping time goes, measured
// inside the running proxy. Each hook the proxy calls per request (tracker, telemetry, recorder,
// the store's batch write, the span exporter) is wrapped with a clock; the proxy child answers
// `breakdown` over IPC with the time per call and per request. Differences of 1 µs that the
// CPU-per-request ratios cannot see (the host's noise is ±10% of a request) show here, because
// only the proxy's own main thread between two clock reads is counted.
import { performance } from 'node:perf_hooks';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { RunningServer } from '../src/server.js';
import type { Telemetry } from '../src/telemetry/index.js';

export interface BreakdownRow {
  /** What was timed; a leading space marks a part of the row above it. */
  name: string;
  calls: number;
  /** Per call, or per row / span for the batched ones. */
  microsPerCall: number;
  totalMicros: number;
}

const rows = new Map<string, { calls: number; ms: number }>();

function timed<A extends unknown[], R>(name: string, f: (...args: A) => R, unitsOf?: (...args: A) => number) {
  const row = { calls: 0, ms: 0 };
  rows.set(name, row);
  return (...args: A): R => {
    const t0 = performance.now();
    try {
      return f(...args);
    } finally {
      row.ms += performance.now() - t0;
      row.calls += unitsOf ? unitsOf(...args) : 1;
    }
  };
}

/** Wraps the telemetry hooks: call before `startServer`, which hands them to the tracker. */
export function instrumentTelemetry(telemetry: Telemetry): void {
  telemetry.extraRequestHeaders = timed('telemetry.extraRequestHeaders', telemetry.extraRequestHeaders);
  telemetry.onExchange = timed(' telemetry.onExchange (metrics + spans)', telemetry.onExchange);
  const m = telemetry.metrics;
  m.exchangeFinished = timed('  metrics.exchangeFinished', m.exchangeFinished.bind(m));
}

/**
 * The exporter's `export`, timed per span (the bench's dropping exporter reads every field). The
 * batch processor exports synchronously from the `onEnd` of the span that fills a batch, so this
 * time is part of `telemetry.onExchange`, amortized: shown under it, not added again.
 */
export function instrumentExporter(exporter: SpanExporter): SpanExporter {
  return {
    export: timed('  span export (per span)', exporter.export.bind(exporter), (spans) => spans.length),
    shutdown: () => exporter.shutdown(),
  };
}

/** Wraps the tracker, recorder and store of a started server (their callers look them up per call). */
export function instrumentServer(running: RunningServer): void {
  const tracker = running.tracker;
  tracker.begin = timed('tracker.begin', tracker.begin.bind(tracker));
  // @internal, called by every ExchangeHandle.finish: the tracker, then recorder and telemetry.
  tracker.finishExchange = timed('tracker.finishExchange (all below)', tracker.finishExchange.bind(tracker));
  const recorder = running.recorder;
  recorder.record = timed(' recorder.record (enqueue)', recorder.record.bind(recorder));
  const store = running.store;
  store.write = timed(
    'store.write (per observation, batched)',
    store.write.bind(store),
    (batch) => batch.length,
  );
}

/** Display order: the request's path through the proxy; parts (leading spaces) under their whole. */
const ORDER = [
  'tracker.begin',
  'telemetry.extraRequestHeaders',
  'tracker.finishExchange (all below)',
  ' recorder.record (enqueue)',
  ' telemetry.onExchange (metrics + spans)',
  '  metrics.exchangeFinished',
  '  span export (per span)',
  'store.write (per observation, batched)',
];

export function breakdown(): BreakdownRow[] {
  const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  return [...rows]
    .sort((a, b) => rank(a[0]) - rank(b[0]))
    .map(([name, r]) => ({
      name,
      calls: r.calls,
      microsPerCall: r.calls > 0 ? (r.ms * 1000) / r.calls : 0,
      totalMicros: r.ms * 1000,
    }));
}

export function resetBreakdown(): void {
  for (const r of rows.values()) {
    r.calls = 0;
    r.ms = 0;
  }
}
