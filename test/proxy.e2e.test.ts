import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExpiryStyle } from '../src/demo/upstream.js';
import {
  initializeMessage,
  initializeSession,
  openEventStream,
  postJsonRpc,
  startServerEverything,
  toolsListMessage,
  upstreamPool,
} from './fixtures/upstreams.js';
import { REFUSED_PORT, sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.cleanup()));
  await upstreams.closeAll();
});

async function proxyFor(url: string, id = 'up', extra = {}): Promise<TestProxy> {
  const p = await startTestProxy([upstreamConfig(id, url, extra)]);
  proxies.push(p);
  return p;
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'e2e-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

async function apiJson<T>(p: TestProxy, path: string): Promise<T> {
  await p.flush();
  const res = await fetch(`${p.url}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

interface Expiration {
  upstream: string;
  sessionHash: string;
  idleGapSeconds: number;
  sessionAgeSeconds: number;
  exchangesBefore: number;
  method: string;
  httpStatus: number;
  outcome: string;
  confidence: string;
  streamAttached: boolean;
}

describe('passive proxy: acceptance', () => {
  it('an SDK client survives 1 s idle, gets the upstream 404 after 4 s, and the expiry is recorded with its real gap', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 2000, expiryStyle: 'spec' });
    const p = await proxyFor(upstream.url, 'linear');
    const client = await connect(p.mcpUrl('linear'));
    await client.listTools();

    await sleep(1000);
    const tools = await client.listTools();
    expect(tools.tools.length).toBeGreaterThan(0);
    const lastCallEnded = performance.now();

    await sleep(4000);
    const callStarted = performance.now();
    const realGapSeconds = (callStarted - lastCallEnded) / 1000;
    await expect(client.listTools()).rejects.toThrow(/404|Session not found/);
    await client.close();

    const expirations = await apiJson<Expiration[]>(p, '/api/expirations?upstream=linear');
    expect(expirations).toHaveLength(1);
    const [e] = expirations;
    expect(e!.outcome).toBe('session_expired');
    expect(e!.confidence).toBe('spec');
    expect(e!.httpStatus).toBe(404);
    expect(e!.method).toBe('tools/list');
    // The acceptance bound; the client and the proxy share this process's event loop here.
    expect(Math.abs(e!.idleGapSeconds - realGapSeconds)).toBeLessThan(0.1);
    expect(e!.sessionAgeSeconds).toBeGreaterThan(5);
    expect(e!.exchangesBefore).toBeGreaterThanOrEqual(3);
    expect(e!.sessionHash).toMatch(/^[0-9a-f]{16}$/);
  }, 15_000);

  it('the expired answer is byte-identical to what the upstream sends direct', async () => {
    // The handshake (initialize + initialized) must fit inside the idle timeout even on a busy runner.
    const upstream = await upstreams.start({ idleTimeoutMs: 400 });
    const p = await proxyFor(upstream.url);
    const viaProxy = await initializeSession(p.mcpUrl('up'));
    const direct = await initializeSession(upstream.url);
    await sleep(800);
    const a = await postJsonRpc(p.mcpUrl('up'), toolsListMessage(), { sessionId: viaProxy.sessionId });
    const b = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId: direct.sessionId });
    expect(a.status).toBe(404);
    expect(a.status).toBe(b.status);
    expect(a.text).toBe(b.text);
    expect(a.headers.get('content-type')).toBe(b.headers.get('content-type'));
  });
});

describe('passive proxy: transparency', () => {
  for (const responseMode of ['json', 'sse'] as const) {
    it(`initialize and tools/list are identical direct vs proxied (${responseMode} responses)`, async () => {
      const upstream = await upstreams.start({ responseMode });
      const p = await proxyFor(upstream.url);
      const direct = await initializeSession(upstream.url);
      const proxied = await initializeSession(p.mcpUrl('up'));
      for (const [d, q] of [[direct.response, proxied.response]] as const) {
        expect(q.status).toBe(d.status);
        expect(q.headers.get('content-type')).toBe(d.headers.get('content-type'));
        expect(q.text).toBe(d.text);
      }
      expect(proxied.sessionId).toBeTruthy();
      const d = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId: direct.sessionId });
      const q = await postJsonRpc(p.mcpUrl('up'), toolsListMessage(), { sessionId: proxied.sessionId });
      expect(q.status).toBe(200);
      expect(q.text).toBe(d.text);
      expect(q.headers.get('content-type')).toBe(d.headers.get('content-type'));
    });
  }

  it('streams progress notifications as the upstream emits them, before the final response', async () => {
    const upstream = await upstreams.start({ responseMode: 'sse' });
    const p = await proxyFor(upstream.url);
    const { sessionId } = await initializeSession(p.mcpUrl('up'));
    const res = await fetch(p.mcpUrl('up'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId!,
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name: 'slow_progress',
          arguments: { steps: 3, intervalMs: 150 },
          _meta: { progressToken: 'p1' },
        },
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const arrivals: Array<{ at: number; text: string }> = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body!)
      arrivals.push({ at: performance.now(), text: decoder.decode(chunk) });
    const progressAt = arrivals.filter((a) => a.text.includes('notifications/progress')).map((a) => a.at);
    const finalAt = arrivals.find((a) => a.text.includes('"result"'))!.at;
    expect(progressAt.length).toBeGreaterThanOrEqual(2);
    // The first progress event reached the client well before the result: nothing was buffered.
    expect(finalAt - progressAt[0]!).toBeGreaterThan(200);
  });

  it('an SDK client through the proxy sees exactly what it sees direct from server-everything', async () => {
    const everything = await startServerEverything('streamableHttp');
    try {
      const p = await proxyFor(everything.url, 'everything');
      const direct = await connect(everything.url);
      const proxied = await connect(p.mcpUrl('everything'));
      expect(await proxied.listTools()).toEqual(await direct.listTools());
      expect(await proxied.listPrompts()).toEqual(await direct.listPrompts());
      expect(await proxied.listResources()).toEqual(await direct.listResources());
      const args = { name: 'echo', arguments: { message: 'hello through the proxy' } };
      expect(await proxied.callTool(args)).toEqual(await direct.callTool(args));
      expect(proxied.getServerVersion()).toEqual(direct.getServerVersion());
      await direct.close();
      await proxied.close();
      const sessions = await apiJson<Array<{ upstream: string; initLatencySeconds: number }>>(
        p,
        '/api/sessions?upstream=everything',
      );
      expect(sessions).toHaveLength(1);
      expect(sessions[0]!.initLatencySeconds).toBeGreaterThan(0);
    } finally {
      await everything.close();
    }
  }, 30_000);
});

describe('passive proxy: classification of expiry styles', () => {
  const cases: Array<{ style: ExpiryStyle; status: number; outcome: string; confidence: string | null }> = [
    { style: 'spec', status: 404, outcome: 'session_expired', confidence: 'spec' },
    { style: 'python-404', status: 404, outcome: 'session_expired', confidence: 'spec' },
    { style: 'sdk-400', status: 400, outcome: 'session_expired', confidence: 'heuristic' },
    { style: '401', status: 401, outcome: 'session_expired', confidence: 'heuristic' },
    { style: 'accept-any', status: 200, outcome: 'ok', confidence: null },
  ];
  for (const c of cases) {
    it(`${c.style} → ${c.outcome}${c.confidence ? ` (${c.confidence})` : ''}`, async () => {
      const upstream = await upstreams.start({
        idleTimeoutMs: 400,
        expiryStyle: c.style,
        responseMode: 'json',
      });
      const p = await proxyFor(upstream.url);
      const { sessionId } = await initializeSession(p.mcpUrl('up'));
      const lastCallEnded = performance.now();
      await sleep(700);
      const realGapMs = performance.now() - lastCallEnded;
      const res = await postJsonRpc(p.mcpUrl('up'), toolsListMessage(), { sessionId });
      expect(res.status).toBe(c.status);
      await p.flush();
      const last = (await p.store.listExchanges({ upstream: 'up' })).at(-1)!;
      expect(last.rpcMethod).toBe('tools/list');
      expect(last.outcome).toBe(c.outcome);
      expect(last.confidence).toBe(c.confidence);
      // The idle gap as recorded is the real one (the client's own clock) within 100 ms
      // (a 700 ms gap: a unit slip or a gap taken from the wrong call is far outside).
      expect(Math.abs(last.idleGapMs! - realGapMs)).toBeLessThan(100);
    });
  }

  it('a stateless upstream is recognised, and its errors are never session expiry', async () => {
    const upstream = await upstreams.start({ stateless: true, responseMode: 'json' });
    const p = await proxyFor(upstream.url);
    const init = await postJsonRpc(p.mcpUrl('up'), initializeMessage());
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toBeNull();
    await p.flush();
    expect((await p.store.listUpstreams())[0]!.stateless).toBe(true);
    expect(p.tracker.isStateless('up')).toBe(true);
    expect(p.tracker.size).toBe(0);
  });
});

describe('passive proxy: errors it answers itself', () => {
  it('an unknown upstream id gets a JSON-RPC error naming it and the configured ones', async () => {
    const upstream = await upstreams.start();
    const p = await proxyFor(upstream.url, 'linear');
    const res = await postJsonRpc(`${p.url}/mcp/jira`, initializeMessage());
    expect(res.status).toBe(404);
    const body = res.json as { error: { message: string } };
    expect(body.error.message).toContain('"jira"');
    expect(body.error.message).toContain('linear');
  });

  it('an unreachable upstream gets 502 with a JSON-RPC error, recorded as connection_error', async () => {
    const p = await proxyFor(`http://127.0.0.1:${REFUSED_PORT}/mcp`);
    const res = await postJsonRpc(p.mcpUrl('up'), initializeMessage(5));
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({
      jsonrpc: '2.0',
      id: 5,
      error: { message: expect.stringMatching(/unreachable/) },
    });
    await p.flush();
    expect((await p.store.listExchanges({ upstream: 'up' }))[0]!.outcome).toBe('connection_error');
  });

  // The relay corks the client socket while it passes on what one upstream read brought; a
  // stream that opens and then stays silent must still show its headers to the client at once.
  it('an SSE stream that sends nothing after its headers reaches the client with its headers at once', async () => {
    const held: import('node:http').ServerResponse[] = [];
    const silent = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 'quiet' });
      res.flushHeaders();
      held.push(res);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const p = await proxyFor(`http://127.0.0.1:${port}/mcp`);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 3000);
      const res = await fetch(p.mcpUrl('up'), {
        headers: { accept: 'text/event-stream', 'mcp-session-id': 'quiet' },
        signal: controller.signal,
      });
      clearTimeout(timer);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      controller.abort();
    } finally {
      for (const r of held) r.destroy();
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a hanging upstream gets 504 after its timeoutSeconds, recorded as timeout', async () => {
    const sockets: import('node:net').Socket[] = [];
    const hanging: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const port = (hanging.address() as { port: number }).port;
    try {
      const p = await proxyFor(`http://127.0.0.1:${port}/mcp`, 'up', { timeoutSeconds: 0.5 });
      const started = performance.now();
      const res = await postJsonRpc(p.mcpUrl('up'), initializeMessage());
      expect(res.status).toBe(504);
      expect(performance.now() - started).toBeGreaterThanOrEqual(450);
      expect(res.json).toMatchObject({
        error: { message: expect.stringMatching(/no response within 0.5s/) },
      });
      await p.flush();
      expect((await p.store.listExchanges({ upstream: 'up' }))[0]!.outcome).toBe('timeout');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hanging.close(r));
    }
  });
});

describe('passive proxy: the store', () => {
  /** A session with 3 exchanges (initialize, initialized, tools/list) through a proxy, then a new proxy on its database. */
  async function oneSessionThenRestart(): Promise<{ second: TestProxy; sessionId: string | undefined }> {
    const upstream = await upstreams.start();
    const first = await startTestProxy([upstreamConfig('up', upstream.url)]);
    const { sessionId } = await initializeSession(first.mcpUrl('up'));
    await postJsonRpc(first.mcpUrl('up'), toolsListMessage(), { sessionId });
    await first.close();
    const second = await startTestProxy([upstreamConfig('up', upstream.url)], { dbPath: first.dbPath });
    proxies.push(second);
    return { second, sessionId };
  }

  it('records survive a restart', async () => {
    const { second } = await oneSessionThenRestart();
    const sessions = await apiJson<Array<{ exchanges: number; sessionHash: string }>>(
      second,
      '/api/sessions',
    );
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.exchanges).toBe(3);
    const exchanges = await second.store.listExchanges({ upstream: 'up' });
    expect(exchanges.map((e) => e.rpcMethod)).toEqual([
      'initialize',
      'notifications/initialized',
      'tools/list',
    ]);
  });

  it('a session that outlives a restart goes on counting its exchanges from the stored row', async () => {
    const { second, sessionId } = await oneSessionThenRestart();
    // The upstream kept the session; the new proxy adopts it on first sight.
    for (let i = 0; i < 2; i++) {
      const res = await postJsonRpc(second.mcpUrl('up'), toolsListMessage(), { sessionId });
      expect(res.status).toBe(200);
    }
    await second.flush();
    const sessions = await second.store.listSessions({});
    expect(sessions).toHaveLength(1);
    // 3 before the restart (initialize, notifications/initialized, tools/list) + 2 after; the
    // row opened by the first process stays as it was opened (not adopted).
    expect(sessions[0]).toMatchObject({ exchanges: 5, adopted: false, endedAt: null });
    expect(await second.store.listExchanges({ upstream: 'up' })).toHaveLength(5);
  });

  it('a bearer token and the raw session id sent by the client appear nowhere in the database file', async () => {
    const token = `tok_${randomBytes(24).toString('hex')}`;
    const upstream = await upstreams.start({ requireAuth: token, responseMode: 'json' });
    const p = await proxyFor(upstream.url);
    const client = await connect(p.mcpUrl('up'), { authorization: `Bearer ${token}` });
    await client.listTools();
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    await client.close();
    await p.flush();
    const files = [p.dbPath, `${p.dbPath}-wal`].filter(existsSync);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(token)).toBe(false);
    expect(bytes.includes(sessionId)).toBe(false);
    expect((await p.store.listSessions({})).length).toBe(1);
  });

  it('keeps forwarding when the store fails, and counts what it could not write', async () => {
    const upstream = await upstreams.start({ responseMode: 'json' });
    const p = await proxyFor(upstream.url);
    await p.flush();
    // Break the database under the running proxy.
    (p.store as unknown as { sqlite: { close(): void } }).sqlite.close();
    for (let i = 0; i < 3; i++) {
      const res = await postJsonRpc(p.mcpUrl('up'), initializeMessage(i));
      expect(res.status).toBe(200);
    }
    // A session id the proxy has not seen is adopted and looked up in the broken store: the
    // lookup fails off the request path, the answer is the upstream's own.
    const unknown = await postJsonRpc(p.mcpUrl('up'), toolsListMessage(), { sessionId: 'from-before' });
    expect(unknown.status).toBe(404);
    await sleep(50);
    await p.recorder.flush();
    const stats = p.recorder.stats();
    expect(stats.failures).toBeGreaterThan(0);
    expect(stats.failing).toBe(true);
    const health = await (await fetch(`${p.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'degraded' });
  });

  it('tracks a standalone GET stream as attached during the idle period', async () => {
    const upstream = await upstreams.start({ responseMode: 'json' });
    const p = await proxyFor(upstream.url);
    const { sessionId } = await initializeSession(p.mcpUrl('up'));
    const stream = await openEventStream(p.mcpUrl('up'), { sessionId });
    expect(stream.status).toBe(200);
    await sleep(100);
    await postJsonRpc(p.mcpUrl('up'), toolsListMessage(), { sessionId });
    stream.close();
    await p.flush();
    const list = (await p.store.listExchanges({ upstream: 'up' })).find((e) => e.rpcMethod === 'tools/list')!;
    expect(list.streamAttached).toBe(true);
    expect(list.idleGapMs).toBeGreaterThanOrEqual(90);
  });
});
