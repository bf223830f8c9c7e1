/**
 * Heal mode against server-everything restarted under live sessions (it forgets every session
 * and answers 400 "No valid session ID"), with a raw client that holds no GET stream and with
 * the official SDK 1.x and 2.x clients, which hold a standalone GET stream and never
 * re-initialize by themselves: direct, the next call fails; through the proxy with `heal: true`
 * it succeeds on the same session id, and the clients' GET streams carry the replacement
 * session's notifications; without `heal` the session error passes through untouched.
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
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  initializeSession,
  postJsonRpc,
  type ServerEverything,
  startServerEverything,
  toolsListMessage,
} from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

interface SdkClient {
  listTools(): Promise<{ tools: unknown[] }>;
  /** server-everything's tool that sends a log message on the session's standalone stream at once. */
  toggleLogging(): Promise<unknown>;
  /** Log messages received (server-to-client notifications). */
  logs: unknown[];
  close(): Promise<void>;
  sessionId(): string | undefined;
}

const TOGGLE_LOGGING = { name: 'toggle-simulated-logging', arguments: {} };

async function connectV1(url: string): Promise<SdkClient> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'heal-sdk-v1', version: '1.0.0' });
  const logs: unknown[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  await client.connect(transport);
  return {
    listTools: () => client.listTools(),
    toggleLogging: () => client.callTool(TOGGLE_LOGGING),
    logs,
    close: () => client.close(),
    sessionId: () => transport.sessionId,
  };
}

async function connectV2(url: string): Promise<SdkClient> {
  const transport = new TransportV2(new URL(url));
  const client = new ClientV2({ name: 'heal-sdk-v2', version: '2.0.0' });
  const logs: unknown[] = [];
  client.setNotificationHandler('notifications/message', (n) => {
    logs.push(n.params);
  });
  await client.connect(transport);
  return {
    listTools: () => client.listTools(),
    toggleLogging: () => client.callTool(TOGGLE_LOGGING),
    logs,
    close: () => client.close(),
    sessionId: () => transport.sessionId,
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('heal mode against server-everything restarted under live sessions', () => {
  let upstream: ServerEverything;
  let healing: TestProxy;
  let plain: TestProxy;
  let home: string;

  beforeAll(async () => {
    upstream = await startServerEverything('streamableHttp');
    home = mkdtempSync(join(tmpdir(), 'heal-home-'));
    process.env.MCP_PROBE_HOME = home;
    const config = upstreamConfig('everything', upstream.url, { heal: true, timeoutSeconds: 10 });
    healing = await startTestProxy([config]);
    plain = await startTestProxy([{ ...config, heal: false }]);
  }, 30_000);

  afterAll(async () => {
    await healing?.cleanup();
    await plain?.cleanup();
    await upstream?.close();
    delete process.env.MCP_PROBE_HOME;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  async function restartUpstream(downMs = 0): Promise<void> {
    await upstream.close();
    if (downMs > 0) await sleep(downMs);
    upstream = await startServerEverything('streamableHttp', { port: upstream.port });
  }

  async function healedExpirations(): Promise<{ healed: boolean; outcome: string }[]> {
    await healing.flush();
    const res = await fetch(`${healing.url}/api/expirations?upstream=everything`);
    return ((await res.json()) as { healed: boolean; outcome: string }[]).filter((e) => e.healed);
  }

  it('a raw client: fails direct, succeeds through the proxy on the same session id, gets the 400 untouched without heal', async () => {
    const direct = (await initializeSession(upstream.url)).sessionId!;
    const healed = (await initializeSession(healing.mcpUrl('everything'))).sessionId!;
    const passed = (await initializeSession(plain.mcpUrl('everything'))).sessionId!;
    expect(healed).toMatch(/^mph1\./);
    expect(passed).not.toMatch(/^mph1\./);
    const before = (await healedExpirations()).length;

    await restartUpstream();

    const directAnswer = await postJsonRpc(upstream.url, toolsListMessage(7), { sessionId: direct });
    expect(directAnswer.status).toBe(400);
    expect(directAnswer.text).toContain('No valid session ID');
    const passedAnswer = await postJsonRpc(plain.mcpUrl('everything'), toolsListMessage(7), {
      sessionId: passed,
    });
    expect(passedAnswer.status).toBe(directAnswer.status);
    expect(passedAnswer.text).toBe(directAnswer.text);

    const healedAnswer = await postJsonRpc(healing.mcpUrl('everything'), toolsListMessage(7), {
      sessionId: healed,
    });
    expect(healedAnswer.status).toBe(200);
    expect(healedAnswer.messages).toContainEqual(
      expect.objectContaining({ id: 7, result: expect.anything() }),
    );
    expect(healedAnswer.headers.get('mcp-session-id') ?? healed).toBe(healed);
    // The next call goes straight to the replacement: no second heal.
    const again = await postJsonRpc(healing.mcpUrl('everything'), toolsListMessage(8), { sessionId: healed });
    expect(again.status).toBe(200);

    const expirations = await healedExpirations();
    expect(expirations).toHaveLength(before + 1);
    expect(expirations[0]!.outcome).toBe('session_expired');
  }, 40_000);

  it("keeps the 1.x and 2.x clients working, and their GET streams carrying notifications, across a restart longer than the clients' own reconnects", async () => {
    const proxied = [
      await connectV1(healing.mcpUrl('everything')),
      await connectV2(healing.mcpUrl('everything')),
    ];
    const direct = [await connectV1(upstream.url), await connectV2(upstream.url)];
    for (const c of [...proxied, ...direct]) expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    const idsBefore = proxied.map((c) => c.sessionId());
    const before = (await healedExpirations()).length;

    // Down for longer than the clients retry their GET streams by themselves (1 s, then 2.5 s).
    await restartUpstream(3000);

    // The proxy reopens each agent's stream on a replacement session by itself, before any call.
    await until(async () => (await healedExpirations()).length >= before + 2, 'both GET streams healed');
    for (const c of direct) await expect(c.listTools()).rejects.toThrow();
    for (const c of proxied) expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    expect(proxied.map((c) => c.sessionId())).toEqual(idsBefore);

    // A server-to-client notification on the replacement session reaches each client.
    for (const c of proxied) {
      c.logs.length = 0;
      await c.toggleLogging();
    }
    await until(() => proxied.every((c) => c.logs.length > 0), 'a log message on each GET stream', 3000);

    await Promise.allSettled([...proxied, ...direct].map((c) => c.close()));
  }, 40_000);
});
