// The legacy HTTP+SSE transport through the real serve stack: the SDK's SSEClientTransport
// against the SDK's SSEServerTransport fixture and against server-everything in `sse` mode.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  initializeMessage,
  openLegacySession,
  postJsonRpc,
  startServerEverything,
  toolsListMessage,
  upstreamPool,
} from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.cleanup()));
  await upstreams.closeAll();
});

async function proxyFor(url: string, id = 'legacy'): Promise<TestProxy> {
  const p = await startTestProxy([upstreamConfig(id, url, { transport: 'sse' })]);
  proxies.push(p);
  return p;
}

const sseUrl = (p: TestProxy, id = 'legacy') => `${p.url}/sse/${id}`;

async function connectSse(url: string): Promise<{ client: Client; streamLost: Promise<number> }> {
  const client = new Client({ name: 'legacy-e2e', version: '1.0.0' });
  // The SDK's EventSource reports a lost stream through onerror (and then reconnects).
  const streamLost = new Promise<number>((resolve) => {
    client.onerror = () => resolve(performance.now());
  });
  await client.connect(new SSEClientTransport(new URL(url)));
  return { client, streamLost };
}

async function apiJson<T>(p: TestProxy, path: string): Promise<T> {
  await p.flush();
  const res = await fetch(`${p.url}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

interface SessionJson {
  sessionHash: string;
  transport: string;
  initLatencySeconds: number | null;
  exchanges: number;
  endReason: string | null;
  server: { name: string } | null;
}

interface ExpirationJson {
  sessionHash: string;
  transport: string;
  idleGapSeconds: number;
  sessionAgeSeconds: number;
  method: string;
  outcome: string;
  confidence: string;
  streamAttached: boolean;
  errorMessage: string;
  httpStatus: number | null;
}

describe('legacy HTTP+SSE through the proxy: transparency', () => {
  it('the SDK SSEClientTransport sees exactly what it sees direct (SDK SSEServerTransport fixture)', async () => {
    const upstream = await upstreams.startLegacy();
    const p = await proxyFor(upstream.url);
    const direct = await connectSse(upstream.url);
    const proxied = await connectSse(sseUrl(p));
    expect(proxied.client.getServerVersion()).toEqual(direct.client.getServerVersion());
    expect(proxied.client.getServerCapabilities()).toEqual(direct.client.getServerCapabilities());
    expect(await proxied.client.listTools()).toEqual(await direct.client.listTools());
    expect(await proxied.client.ping()).toEqual(await direct.client.ping());
    await direct.client.close();
    await proxied.client.close();

    await waitForAsync(async () => (await apiJson<SessionJson[]>(p, '/api/sessions'))[0]?.endReason != null);
    const sessions = await apiJson<SessionJson[]>(p, '/api/sessions?upstream=legacy');
    expect(sessions).toHaveLength(1);
    const [s] = sessions;
    expect(s!.transport).toBe('sse');
    expect(s!.initLatencySeconds).toBeGreaterThan(0);
    expect(s!.server?.name).toBe(direct.client.getServerVersion()?.name);
    // initialize, notifications/initialized, tools/list, ping
    expect(s!.exchanges).toBe(4);
    expect(s!.endReason).toBe('stream_closed');
  });

  it('the SDK SSEClientTransport sees exactly what it sees direct (server-everything in sse mode)', async () => {
    const everything = await startServerEverything('sse');
    try {
      const p = await proxyFor(everything.url, 'everything');
      const direct = await connectSse(everything.url);
      const proxied = await connectSse(sseUrl(p, 'everything'));
      expect(proxied.client.getServerVersion()).toEqual(direct.client.getServerVersion());
      expect(await proxied.client.listTools()).toEqual(await direct.client.listTools());
      expect(await proxied.client.listPrompts()).toEqual(await direct.client.listPrompts());
      const args = { name: 'echo', arguments: { message: 'hello over legacy SSE' } };
      expect(await proxied.client.callTool(args)).toEqual(await direct.client.callTool(args));
      await direct.client.close();
      await proxied.client.close();
      await p.flush();
      const exchanges = (await p.store.listExchanges({ upstream: 'everything' })).filter(
        (e) => e.rpcMethod === 'tools/call',
      );
      expect(exchanges).toHaveLength(1);
      // Timed to the response that came back on the stream, not to the POST's 202.
      expect(exchanges[0]!.outcome).toBe('ok');
      expect(exchanges[0]!.httpStatus).toBe(202);
      expect(exchanges[0]!.responseAt).not.toBeNull();
      expect(exchanges[0]!.toolName).toBe('echo');
    } finally {
      await everything.close();
    }
  }, 30_000);

  it('rewrites only the endpoint event (keeping the upstream query) and passes the stream through', async () => {
    const upstream = await upstreams.startLegacy();
    const p = await proxyFor(upstream.url);
    const direct = await openLegacySession(upstream.url);
    const proxied = await openLegacySession(sseUrl(p));
    expect(new URL(proxied.endpointUrl).pathname).toBe('/messages/legacy');
    expect(new URL(proxied.endpointUrl).origin).toBe(p.url);
    expect(proxied.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(proxied.stream.headers.get('content-type')).toBe(direct.stream.headers.get('content-type'));

    for (const s of [direct, proxied]) {
      const init = await postJsonRpc(s.endpointUrl, initializeMessage(7));
      expect(init.status).toBe(202);
      expect(init.text).toBe('Accepted');
    }
    const [a, b] = await Promise.all(
      [direct, proxied].map((s) => s.stream.nextEvent((e) => e.data.includes('"id":7'))),
    );
    expect(b!.event).toBe(a!.event);
    expect(b!.data).toBe(a!.data);
    direct.stream.close();
    proxied.stream.close();
  });

  it('a client hanging up closes the upstream stream; the upstream ending it ends the client stream', async () => {
    const upstream = await upstreams.startLegacy();
    const p = await proxyFor(upstream.url);
    const first = await openLegacySession(sseUrl(p));
    expect(upstream.stats.activeSessions()).toBe(1);
    first.stream.close();
    await waitFor(() => upstream.stats.activeSessions() === 0);

    const second = await openLegacySession(sseUrl(p));
    expect(upstream.stats.activeSessions()).toBe(1);
    await upstream.close();
    await second.stream.ended;
  });

  it('a POST for a session the proxy never saw gets a JSON-RPC error that says what to do', async () => {
    const upstream = await upstreams.startLegacy();
    const p = await proxyFor(upstream.url);
    const res = await postJsonRpc(`${p.url}/messages/legacy?sessionId=nope`, toolsListMessage(3));
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({
      id: 3,
      error: { message: expect.stringMatching(/open GET \/sse\/legacy/) },
    });
  });
});

describe('legacy HTTP+SSE through the proxy: expiry', () => {
  it('a fixture that closes idle streams after 2 s: the stream end is recorded as expiry with the right idle gap', async () => {
    const upstream = await upstreams.startLegacy({ idleStreamCloseMs: 2000 });
    const p = await proxyFor(upstream.url);
    const { client, streamLost } = await connectSse(sseUrl(p));
    await client.listTools();
    const lastCallEnded = performance.now();
    const streamEnded = await streamLost;
    const realGapSeconds = (streamEnded - lastCallEnded) / 1000;
    await client.close();

    await waitForAsync(async () => (await apiJson<unknown[]>(p, '/api/expirations')).length > 0);
    const expirations = await apiJson<ExpirationJson[]>(p, '/api/expirations?upstream=legacy');
    expect(expirations).toHaveLength(1);
    const [e] = expirations;
    expect(e!.outcome).toBe('session_expired');
    expect(e!.transport).toBe('sse');
    expect(e!.method).toBe('GET');
    expect(e!.errorMessage).toMatch(/stream closed by the upstream/);
    expect(e!.streamAttached).toBe(true);
    // About 2 s (a little under: the upstream's countdown starts when the POST arrives; a
    // little over if its timer fires late on a busy runner).
    expect(e!.idleGapSeconds).toBeGreaterThan(1.8);
    expect(e!.idleGapSeconds).toBeLessThan(2.5);
    expect(Math.abs(e!.idleGapSeconds - realGapSeconds)).toBeLessThan(0.1);
    expect(e!.sessionAgeSeconds).toBeGreaterThanOrEqual(e!.idleGapSeconds);
    const sessions = await apiJson<SessionJson[]>(p, '/api/sessions?upstream=legacy');
    expect(sessions.map((s) => s.endReason)).toEqual(['expired']);
    expect(sessions[0]!.sessionHash).toBe(e!.sessionHash);
  }, 10_000);

  for (const expiryStyle of ['spec', 'sdk-400'] as const) {
    it(`a late POST for that session gets the upstream's own answer (${expiryStyle}), recorded against the same session`, async () => {
      const upstream = await upstreams.startLegacy({ idleStreamCloseMs: 150, expiryStyle });
      const p = await proxyFor(upstream.url);
      const direct = await openLegacySession(upstream.url);
      const proxied = await openLegacySession(sseUrl(p));
      await Promise.all([direct.stream.ended, proxied.stream.ended]);
      const a = await postJsonRpc(direct.endpointUrl, toolsListMessage());
      const b = await postJsonRpc(proxied.endpointUrl, toolsListMessage());
      expect(b.status).toBe(a.status);
      expect(b.text).toBe(a.text);

      await p.flush();
      const rows = await p.store.listExpirations({ upstream: 'legacy' });
      expect(rows.map((r) => r.httpMethod).sort()).toEqual(['GET', 'POST']);
      expect(new Set(rows.map((r) => r.sessionHash)).size).toBe(1);
      // The stream end is the expiry that carries the gap; the late POST adds no invented session.
      const sessions = await p.store.listSessions({ upstream: 'legacy' });
      expect(sessions).toHaveLength(1);
      expect(rows.find((r) => r.httpMethod === 'POST')!.confidence).toBe(
        expiryStyle === 'spec' ? 'spec' : 'heuristic',
      );
    });
  }
});

async function waitForAsync(check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}
