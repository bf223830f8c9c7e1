// `serve` forwards plain `/mcp/<id>` requests straight from its node:http listener, without Hono's
// dispatch; everything else goes to the Hono app. Both ways must forward and record identically.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemoUpstream } from '../src/demo/upstream.js';
import { initializeMessage } from './fixtures/upstreams.js';
import { startTestProxy, upstreamConfig } from './helpers/proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const JSON_AND_SSE = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function initializeThrough(url: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: JSON_AND_SSE,
    body: JSON.stringify(initializeMessage()),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    sessionId: res.headers.get('mcp-session-id'),
    serverName: /"serverInfo":\{"name":"([^"]+)"/.exec(text)?.[1] ?? null,
  };
}

describe('the direct /mcp/<id> route of serve', () => {
  it('forwards and records like the Hono route, and leaves every other target to the app', async () => {
    const demo = await startDemoUpstream();
    cleanups.push(() => demo.close());
    const proxy = await startTestProxy([upstreamConfig('demo', demo.url)]);
    cleanups.push(() => proxy.cleanup());

    // The same app without the direct route: Hono's dispatch only.
    const viaHono = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: proxy.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          viaHono.close(() => r());
          (viaHono as import('node:http').Server).closeAllConnections();
        }),
    );
    const honoBase = `http://127.0.0.1:${(viaHono.address() as AddressInfo).port}`;

    const direct = await initializeThrough(`${proxy.url}/mcp/demo?tenant=a`);
    const hono = await initializeThrough(`${honoBase}/mcp/demo?tenant=a`);
    expect(direct.status).toBe(200);
    expect(direct.sessionId).toMatch(/\S/);
    expect(direct.serverName).not.toBeNull();
    expect({ ...direct, sessionId: 'x' }).toEqual({ ...hono, sessionId: 'x' });
    expect(hono.sessionId).not.toBe(direct.sessionId);

    await proxy.flush();
    const sessions = (await (await fetch(`${proxy.url}/api/sessions`)).json()) as Array<{ upstream: string }>;
    expect(sessions.filter((s) => s.upstream === 'demo')).toHaveLength(2);

    // Only plain targets of configured upstreams with the three methods are taken directly.
    const taken = (method: string, url: string) => {
      let written = false;
      const res = {
        writeHead: () => {
          written = true;
        },
      } as unknown as ServerResponse;
      return proxy.directMcpRoute({ method, url } as IncomingMessage, res) || written;
    };
    for (const [method, url] of [
      ['HEAD', '/mcp/demo'],
      ['PUT', '/mcp/demo'],
      ['POST', '/mcp/other'],
      ['POST', '/mcp/de%6Do'],
      ['POST', '/mcp/demo/'],
      ['POST', '/mcp/demo/x'],
      ['POST', '/gateway/mcp/demo'],
      ['GET', '/sse/demo'],
      ['GET', '/api/sessions'],
    ] as const)
      expect(taken(method, url), `${method} ${url}`).toBe(false);
    // What the app answers for those is what it always answered.
    const encoded = await fetch(`${proxy.url}/mcp/de%6Do`, {
      method: 'POST',
      headers: JSON_AND_SSE,
      body: JSON.stringify(initializeMessage()),
    });
    expect(encoded.status).toBe(200);
    await encoded.text();
    const put = await fetch(`${proxy.url}/mcp/demo`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
  });
});
