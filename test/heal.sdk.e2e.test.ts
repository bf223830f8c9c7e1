/**
 * Heal mode with the official SDK clients (1.x and 2.x), which hold a standalone GET stream and
 * never re-initialize by themselves, against server-everything restarted under their live
 * sessions (it forgets every session and answers 400 "No valid session ID"): direct, the
 * client's next call fails; through the proxy with `heal: true`, it succeeds on the same
 * session id, and the client's GET stream is back on the replacement session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerEverything, startServerEverything } from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

interface SdkClient {
  listTools(): Promise<{ tools: unknown[] }>;
  close(): Promise<void>;
  sessionId(): string | undefined;
}

async function connectV1(url: string): Promise<SdkClient> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'heal-sdk-v1', version: '1.0.0' });
  await client.connect(transport);
  return {
    listTools: () => client.listTools(),
    close: () => client.close(),
    sessionId: () => transport.sessionId,
  };
}

async function connectV2(url: string): Promise<SdkClient> {
  const transport = new TransportV2(new URL(url));
  const client = new ClientV2({ name: 'heal-sdk-v2', version: '2.0.0' });
  await client.connect(transport);
  return {
    listTools: () => client.listTools(),
    close: () => client.close(),
    sessionId: () => transport.sessionId,
  };
}

describe('heal mode with the SDK clients, server-everything restarted under live sessions', () => {
  let upstream: ServerEverything;
  let proxy: TestProxy;
  let home: string;

  beforeAll(async () => {
    upstream = await startServerEverything('streamableHttp');
    home = mkdtempSync(join(tmpdir(), 'heal-home-'));
    process.env.MCP_PROBE_HOME = home;
    proxy = await startTestProxy([
      upstreamConfig('everything', upstream.url, { heal: true, timeoutSeconds: 10 }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await proxy?.cleanup();
    await upstream?.close();
    delete process.env.MCP_PROBE_HOME;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('keeps the 1.x and 2.x clients working through the proxy where direct ones fail', async () => {
    const proxied = [
      await connectV1(proxy.mcpUrl('everything')),
      await connectV2(proxy.mcpUrl('everything')),
    ];
    const direct = [await connectV1(upstream.url), await connectV2(upstream.url)];
    for (const c of [...proxied, ...direct]) expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    const idsBefore = proxied.map((c) => c.sessionId());

    await upstream.close();
    upstream = await startServerEverything('streamableHttp', { port: upstream.port });
    // The clients' GET streams broke with the restart; give them a moment to try reconnecting.
    await sleep(500);

    for (const c of direct) await expect(c.listTools()).rejects.toThrow();
    for (const c of proxied) expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    expect(proxied.map((c) => c.sessionId())).toEqual(idsBefore);

    await proxy.flush();
    const expirations = (await (await fetch(`${proxy.url}/api/expirations?upstream=everything`)).json()) as {
      healed: boolean;
    }[];
    expect(expirations.filter((e) => e.healed).length).toBeGreaterThanOrEqual(2);

    await Promise.allSettled([...proxied, ...direct].map((c) => c.close()));
  }, 40_000);
});
