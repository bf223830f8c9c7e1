// Long-lived GET streams and a hung upstream must not starve request traffic: streams have an
// upstream pool of their own, the upstream's timeoutSeconds bounds the whole wait (queueing for a
// connection included), and beyond maxConcurrentRequests the proxy answers 503 at once.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, upstreamConfig } from './helpers/proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PING = '{"jsonrpc":"2.0","id":1,"method":"ping"}';

/** GETs are held open as SSE streams; POSTs are answered at once, or never (`hang`). */
async function upstream({ hang = false } = {}) {
  let streams = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET') {
      streams++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      return;
    }
    req.resume();
    if (hang) return;
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, streams: () => streams };
}

/** Opens a GET stream through the proxy; resolves once its headers arrived. */
function openStream(url: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'GET', agent: false, headers: { accept: 'text/event-stream' } },
      (res) => {
        res.resume();
        resolve(() => req.destroy());
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function timedPost(url: string): Promise<{ status: number; ms: number; retryAfter: string | null }> {
  const start = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: PING,
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - start, retryAfter: res.headers.get('retry-after') };
}

describe('held GET streams and a hung upstream do not starve requests', () => {
  it('300 held GET streams to one upstream: a POST to it is answered at once, another upstream is unaffected', async () => {
    const busy = await upstream();
    const other = await upstream();
    const p = await startTestProxy([
      upstreamConfig('busy', busy.url, { timeoutSeconds: 3 }),
      upstreamConfig('other', other.url, { timeoutSeconds: 3 }),
    ]);
    cleanups.push(() => p.cleanup());
    const closers = await Promise.all(Array.from({ length: 300 }, () => openStream(p.mcpUrl('busy'))));
    cleanups.unshift(() => {
      for (const close of closers) close();
    });
    expect(busy.streams()).toBe(300);
    const [toBusy, toOther] = await Promise.all([timedPost(p.mcpUrl('busy')), timedPost(p.mcpUrl('other'))]);
    expect(toBusy.status).toBe(200);
    expect(toOther.status).toBe(200);
    // Well within timeoutSeconds (3 s): no request waited behind the streams.
    expect(toBusy.ms).toBeLessThan(1500);
    expect(toOther.ms).toBeLessThan(1500);
  });

  it('a hung upstream: every request gets its 504 at timeoutSeconds, queued ones too; past maxConcurrentRequests a 503 with Retry-After at once, counted', async () => {
    const hung = await upstream({ hang: true });
    const other = await upstream();
    const p = await startTestProxy([
      // 256 connections per origin: 300 requests in flight leave 44 queued for a connection.
      upstreamConfig('hung', hung.url, { timeoutSeconds: 3, maxConcurrentRequests: 300 }),
      upstreamConfig('other', other.url, { timeoutSeconds: 3 }),
    ]);
    cleanups.push(() => p.cleanup());
    const started = performance.now();
    const inFlight = Array.from({ length: 300 }, () => timedPost(p.mcpUrl('hung')));
    // Let the 300 reach the proxy before the ones past the limit.
    await new Promise((r) => setTimeout(r, 500));
    const refused = await Promise.all(Array.from({ length: 10 }, () => timedPost(p.mcpUrl('hung'))));
    const meanwhile = await timedPost(p.mcpUrl('other'));
    const answered = await Promise.all(inFlight);
    const elapsed = performance.now() - started;

    for (const r of refused) expect([r.status, r.retryAfter]).toEqual([503, '1']);
    // At once: never reaching the upstream, they do not wait for its 3 s (whatever a loaded
    // machine adds to a client, proxy and upstream sharing one event loop here).
    expect(Math.max(...refused.map((r) => r.ms))).toBeLessThan(3000);
    expect(meanwhile.status).toBe(200);
    expect(answered.map((r) => r.status)).toEqual(Array(300).fill(504));
    // Nobody waits a second turn: a request queued behind the first 256 and timed only once sent
    // would be answered at 6 s (the client's clock also counts a loaded machine's connection setup).
    expect(elapsed).toBeLessThan(5900);

    // Every slot went back: the breaker is closed again.
    expect(p.registry.get('hung')!.admission.inFlight).toBe(0);
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    expect(metrics).toMatch(/mcpprobe_proxy_rejected(_total)?\{[^}]*mcpprobe_upstream="hung"[^}]*\} 10/);
    await p.flush();
    const exchanges = await p.store.listExchanges({ upstream: 'hung', limit: 1000 });
    // The refused requests never reached the upstream and are not exchanges; the rest timed out,
    // each at its timeout counted from its start, queued for a connection or not.
    expect(exchanges).toHaveLength(300);
    expect(new Set(exchanges.map((e) => e.outcome))).toEqual(new Set(['timeout']));
    const waits = exchanges.map((e) => e.endedAt! - e.startedAt);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(2900);
    expect(Math.max(...waits)).toBeLessThan(4000);
  });
});
