// CPU cost of telemetry per finished exchange, in-process: metrics only (no OTEL_* set), and
// metrics + spans through a real SDK tracer (BatchSpanProcessor into an exporter that drops).
//   npx tsx bench/telemetryCost.ts
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { readRequestEnvelope } from '../src/sessions/jsonrpc.js';
import { SessionTracker } from '../src/sessions/tracker.js';
import { setupTelemetry, type Telemetry } from '../src/telemetry/setup.js';
import { droppingExporter } from './droppingExporter.js';

const N = 200_000;
const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_issue' } });
const envelope = readRequestEnvelope(body);

function run(label: string, telemetry: Telemetry | null): void {
  const tracker = new SessionTracker({
    onObservation: telemetry ? telemetry.onObservation : () => {},
    onExchange: telemetry ? telemetry.onExchange : undefined,
  });
  const once = (i: number) => {
    const h = tracker.begin({
      upstream: 'linear',
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: `s${i % 100}`,
      request: envelope,
    });
    telemetry?.extraRequestHeaders(h, null);
    h.headers(200, null);
    h.message({
      id: '7',
      method: null,
      isResponse: true,
      hasError: false,
      errorCode: null,
      errorMessage: null,
    });
    h.finish();
  };
  for (let i = 0; i < 20_000; i++) once(i); // warm-up
  // CPU time, not wall time: on a shared, loaded machine wall time mostly measures the neighbours.
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) once(i);
  const c = process.cpuUsage(c0);
  const ns = ((c.user + c.system) * 1000) / N;
  console.log(`${label.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/exchange`);
}

run('tracker only (no telemetry)', null);
const metricsOnly = setupTelemetry({ env: {} });
run('tracker + metrics (no OTEL_*)', metricsOnly);
const traced = setupTelemetry({
  env: {},
  spanProcessors: [
    new BatchSpanProcessor(droppingExporter(), { maxQueueSize: 4096, scheduledDelayMillis: 50 }),
  ],
});
run('tracker + metrics + spans', traced);
await metricsOnly.shutdown();
await traced.shutdown();
