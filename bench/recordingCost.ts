// CPU per exchange of recording alone, without sockets: the SessionTracker feeding the real
// recorder and SQLite store, against the same tracker discarding its observations. Run in a
// fresh process; prints one JSON line. argv: exchanges (default 50000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRequestEnvelope, readResponseEnvelope } from '../src/sessions/jsonrpc.js';
import { SessionTracker } from '../src/sessions/tracker.js';
import type { Observation } from '../src/sessions/types.js';
import { createRecorder } from '../src/store/recorder.js';
import { openSqliteStore } from '../src/store/sqlite.js';

const n = Number(process.argv[2] ?? 50_000);
const SESSIONS = 8;
const init = readRequestEnvelope('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}');
const initAnswer = readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}');
const pingAnswer = readResponseEnvelope('{"jsonrpc":"2.0","id":7,"result":{}}');

/** Drives `n` ping exchanges over 8 sessions; yields to the event loop like a server does. */
async function drive(onObservation: (o: Observation) => void, flush: () => Promise<void>): Promise<number> {
  const tracker = new SessionTracker({ onObservation });
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
const results: Record<string, number[]> = { off: [], on: [] };
for (let round = 0; round < 3; round++) {
  results.off!.push(
    await drive(
      () => {},
      async () => {},
    ),
  );
  results.on!.push(await drive(recorder.record, () => recorder.flush()));
}
await recorder.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
process.stdout.write(
  `${JSON.stringify({ exchanges: n, trackerOnlyMicros: med(results.off!), trackerRecorderSqliteMicros: med(results.on!), coalesced: recorder.stats().coalesced })}\n`,
);
