// RSS and heap per idle tracked session, measured on the SessionTracker alone in a
// fresh process (run with --expose-gc): N sessions opened with SDK-style UUID ids,
// observations discarded, full GC before both readings. Prints one JSON line.
// argv: N (default 50000).
import { randomUUID } from 'node:crypto';
import { readRequestEnvelope, readResponseEnvelope } from '../src/sessions/jsonrpc.js';
import { SessionTracker } from '../src/sessions/tracker.js';

const n = Number(process.argv[2] ?? 50_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('bench: trackerMemory.ts needs node --expose-gc');
const tracker = new SessionTracker({ onObservation: () => {} });
const envelope = readRequestEnvelope(
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","clientInfo":{"name":"bench","version":"1"}}}',
);
const answer = readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}');
const open = (id: string) => {
  const h = tracker.begin({
    upstream: 'bench',
    transport: 'streamable-http',
    httpMethod: 'POST',
    sessionId: null,
    request: envelope,
  });
  h.headers(200, id);
  h.message(answer);
  h.finish();
};
open(randomUUID()); // first-use allocations (maps, hidden classes) are not per session
gc();
gc();
const before = process.memoryUsage();
// The id strings count: the tracker's map key keeps the raw id (as the proxy's header string).
for (let i = 0; i < n; i++) open(randomUUID());
gc();
gc();
const after = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    sessions: tracker.size,
    rssBytesPerSession: (after.rss - before.rss) / tracker.size,
    heapBytesPerSession: (after.heapUsed - before.heapUsed) / tracker.size,
  })}\n`,
);
