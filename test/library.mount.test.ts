// The library: `createMcpSessionProbe({ config, db })` mounted under /gateway in someone else's
// Hono app, served by @hono/node-server, with real MCP clients through it.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { startLegacySseUpstream } from '../src/demo/legacySseUpstream.js';
import { startDemoUpstream } from '../src/demo/upstream.js';
import { createMcpSessionProbe } from '../src/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("the library, mounted in a host's Hono app", () => {
  it('an SDK client works through the proxy under /gateway (Streamable HTTP and legacy SSE), beside the host routes', async () => {
    const demo = await startDemoUpstream();
    cleanups.push(() => demo.close());
    const legacy = await startLegacySseUpstream();
    cleanups.push(() => legacy.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-lib-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    const probe = await createMcpSessionProbe({
      config: {
        upstreams: [
          { id: 'demo', url: demo.url },
          { id: 'legacy', url: legacy.url, transport: 'sse' },
        ],
      },
      db: join(dir, 'probe.db'),
    });
    const host = new Hono();
    host.get('/', (c) => c.text('the host app'));
    host.route('/gateway', probe.app);
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: host.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    cleanups.push(async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as import('node:http').Server).closeAllConnections();
      });
      await probe.close();
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const client = new Client({ name: 'lib-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/gateway/mcp/demo`)));
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('echo');
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'through the gateway' } });
    expect(JSON.stringify(echoed.content)).toContain('through the gateway');
    await client.close();

    // Legacy HTTP+SSE: the endpoint event must send the client's POSTs back through /gateway.
    const sseClient = new Client({ name: 'lib-e2e-sse', version: '1.0.0' });
    const transport = new SSEClientTransport(new URL(`${base}/gateway/sse/legacy`));
    await sseClient.connect(transport);
    expect((await sseClient.listTools()).tools.length).toBeGreaterThan(0);
    await sseClient.close();

    // The host's own routes, and the probe's admin routes under the prefix.
    expect(await (await fetch(`${base}/`)).text()).toBe('the host app');
    const health = await fetch(`${base}/gateway/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect(await (await fetch(`${base}/gateway/metrics`)).text()).toContain('mcp_client_operation_duration');
    // What went through was observed: sessions of both transports reach the admin API.
    await new Promise((r) => setTimeout(r, 200));
    const sessions = (await (await fetch(`${base}/gateway/api/sessions`)).json()) as Array<{
      upstream: string;
      transport: string;
    }>;
    expect(new Set(sessions.map((s) => s.upstream))).toEqual(new Set(['demo', 'legacy']));
    // Unknown routes under the prefix are the probe's 404; outside it, the host's.
    expect((await fetch(`${base}/gateway/mcp/nope`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('refuses an invalid config with the field named', async () => {
    await expect(
      createMcpSessionProbe({ config: { upstreams: [{ id: 'Bad Id', url: 'ftp://x' }] } }),
    ).rejects.toThrow(/upstreams\[0\]\.(id|url)/);
  });
});
