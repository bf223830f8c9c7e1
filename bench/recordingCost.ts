// CPU per exchange of recording alone, without sockets: the SessionTracker feeding the real
// recorder and SQLite store, against the same tracker discarding its observations, and
// against the tracker feeding telemetry (spans to a no-op exporter, metrics). Run in a
// fresh process; prints one JSON line. argv: exchanges (default 50000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { readRequestEnvelope, readResponseEnvelope } from '../src/sessions/jsonrpc.js';
import { SessionTracker } from '../src/sessions/tracker.js';
import type { Observation } from '../src/sessions/types.js';
import { createRecorder } from '../src/store/recorder.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { setupTelemetry, type Telemetry } from '../src/telemetry/index.js';

const n = Number(process.argv[2] ?? 50_000);
const SESSIONS = 8;
const init = readRequestEnvelope('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}');
const initAnswer = readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}');
const pingAnswer = readResponseEnvelope('{"jsonrpc":"2.0","id":7,"result":{}}');

/** Drives `n` ping exchanges over 8 sessions; yields to the event loop like a server does. */
async function drive(
  onObservation: (o: Observation) => void,
  flush: () => Promise<void>,
  telemetry: Telemetry | null = null,
): Promise<number> {
  const tracker = new SessionTracker({ onObservation, onExchange: telemetry?.onExchange });
  for (let s = 0; s < SESSIONS; s++) {
    const h = tracker.begin({
      upstream: 'raw',
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: null,
      request: init,
    });
    h.headers(200, `3f1c2a9e-8b7d-4e6f-a5c4-00000000000${s}`);
    h.message(initAnswer);
    h.finish();
  }
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const request = readRequestEnvelope(`{"jsonrpc":"2.0","id":${i},"method":"ping"}`);
    const h = tracker.begin({
      upstream: 'raw',
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: `3f1c2a9e-8b7d-4e6f-a5c4-00000000000${i % SESSIONS}`,
      request,
    });
    telemetry?.extraRequestHeaders(h, null);
    h.headers(200, null);
    h.message(pingAnswer);
    h.finish();
    // About 1,000 requests per second per 50 ms flush interval at the bench's rates: yield often.
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await flush();
  const c = process.cpuUsage(t0);
  return (c.user + c.system) / n;
}

const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-reccost-'));
const store = openSqliteStore({ path: join(dir, 'bench.db') });
const recorder = createRecorder({ store });
// Telemetry as the bench's proxy runs it: spans batched to an exporter that drops them, metrics.
const noopExporter: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: async () => {},
};
const telemetry = setupTelemetry({
  spanProcessors: [new BatchSpanProcessor(noopExporter)],
  upstreams: [{ id: 'raw', url: 'http://127.0.0.1:9/mcp' }],
});
const discard = () => {};
const nothing = async () => {};
const results: Record<'off' | 'on' | 'telemetry', number[]> = { off: [], on: [], telemetry: [] };
for (let round = 0; round < 3; round++) {
  results.off.push(await drive(discard, nothing));
  results.on.push(await drive(recorder.record, () => recorder.flush()));
  results.telemetry.push(await drive(telemetry.onObservation, nothing, telemetry));
}
await telemetry.shutdown();
await recorder.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
process.stdout.write(
  `${JSON.stringify({
    exchanges: n,
    trackerOnlyMicros: med(results.off),
    trackerRecorderSqliteMicros: med(results.on),
    trackerTelemetryMicros: med(results.telemetry),
    coalesced: recorder.stats().coalesced,
  })}\n`,
);
