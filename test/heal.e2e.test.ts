/**
 * Heal mode against mcp-proxy 6.7 (a real third-party server whose sessions die after 2 s idle,
 * swept every 2 s), with a raw client that holds no GET stream: calls after gaps longer than
 * the timeout fail direct, and succeed through the proxy with `heal: true`, on one downstream
 * session id; without `heal` the 404 passes through untouched. (An SDK client's open GET stream
 * keeps an mcp-proxy session alive, so the SDK clients meet expiry in heal.sdk.e2e.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type McpProxySweeper, startMcpProxySweeper } from './fixtures/mcpProxySweeper.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const IDLE_MS = 2000;
/** A client calling every 5 s: past T + one sweep period, so every session idle this long is gone. */
const GAP_MS = 5000;

const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'heal-test', version: '1' },
  },
};

interface Answer {
  status: number;
  sessionId: string | null;
  body: string;
}

async function post(url: string, message: unknown, sessionId: string | null): Promise<Answer> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: 'Bearer heal-test-token',
  };
  if (sessionId) {
    headers['mcp-session-id'] = sessionId;
    headers['mcp-protocol-version'] = '2025-06-18';
  }
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(message) });
  return { status: res.status, sessionId: res.headers.get('mcp-session-id'), body: await res.text() };
}

/** initialize + notifications/initialized; returns the session id the client was given. */
async function openSession(url: string): Promise<string> {
  const init = await post(url, INIT, null);
  expect(init.status).toBe(200);
  expect(init.sessionId).toBeTruthy();
  const initialized = await post(
    url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    init.sessionId,
  );
  expect(initialized.status).toBe(202);
  return init.sessionId!;
}

const toolsList = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

describe('heal mode against mcp-proxy (2 s idle)', () => {
  let upstream: McpProxySweeper;
  let healing: TestProxy;
  let plain: TestProxy;
  let home: string;

  beforeAll(async () => {
    upstream = await startMcpProxySweeper({ idleTimeoutMs: IDLE_MS });
    home = mkdtempSync(join(tmpdir(), 'heal-home-'));
    process.env.MCP_PROBE_HOME = home;
    healing = await startTestProxy([upstreamConfig('mp', upstream.url, { heal: true, timeoutSeconds: 10 })]);
    plain = await startTestProxy([upstreamConfig('mp', upstream.url, { timeoutSeconds: 10 })]);
  }, 30_000);

  afterAll(async () => {
    await healing?.cleanup();
    await plain?.cleanup();
    await upstream?.close();
    delete process.env.MCP_PROBE_HOME;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('a client calling every 5 s sees only successes with heal on, on one session id, and 404s direct and without heal', async () => {
    const url = healing.mcpUrl('mp');
    const sessionId = await openSession(url);
    const direct = await openSession(upstream.url);
    const passed = await openSession(plain.mcpUrl('mp'));
    // The agent holds a sealed id, not the upstream's; without heal the upstream's passes through.
    expect(sessionId).toMatch(/^mph1\./);
    expect(passed).not.toMatch(/^mph1\./);
    expect((await post(url, toolsList(1), sessionId)).status).toBe(200);

    for (const id of [2, 3]) {
      await sleep(GAP_MS);
      const [answer, directAnswer, passedAnswer] = await Promise.all([
        post(url, toolsList(id), sessionId),
        post(upstream.url, toolsList(id), direct),
        post(plain.mcpUrl('mp'), toolsList(id), passed),
      ]);
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('"tools"');
      // The agent's session id never changes.
      expect(answer.sessionId ?? sessionId).toBe(sessionId);
      // Without heal the 404 passes through untouched, as the upstream answers it direct.
      expect(directAnswer.status).toBe(404);
      expect(passedAnswer.status).toBe(404);
      expect(passedAnswer.body).toBe(directAnswer.body.replace(direct, passed));
    }

    await healing.flush();
    const res = await fetch(`${healing.url}/api/expirations?upstream=mp`);
    const expirations = (await res.json()) as {
      healed: boolean;
      idleGapSeconds: number;
      outcome: string;
      healLatencySeconds: number;
    }[];
    const healed = expirations.filter((e) => e.healed);
    expect(healed).toHaveLength(2);
    for (const e of healed) {
      expect(e.outcome).toBe('session_expired');
      expect(e.idleGapSeconds).toBeGreaterThan(IDLE_MS / 1000);
      expect(e.healLatencySeconds).toBeGreaterThan(0);
    }
    const report = (await (await fetch(`${healing.url}/api/report`)).json()) as {
      upstreams: { id: string; heal: { absorbed: number; totalSeconds: number } }[];
    };
    const mp = report.upstreams.find((u) => u.id === 'mp')!;
    expect(mp.heal.absorbed).toBe(2);
    expect(mp.heal.totalSeconds).toBeGreaterThan(0);
  }, 30_000);

  it('keeps healing across a restart of the proxy: the session id itself carries what a heal needs', async () => {
    const sessionId = await openSession(healing.mcpUrl('mp'));
    expect((await post(healing.mcpUrl('mp'), toolsList(1), sessionId)).status).toBe(200);
    // Another proxy process with the same home (its heal key) and nothing in memory.
    const restarted = await startTestProxy([
      upstreamConfig('mp', upstream.url, { heal: true, timeoutSeconds: 10 }),
    ]);
    try {
      await sleep(GAP_MS);
      const answer = await post(restarted.mcpUrl('mp'), toolsList(2), sessionId);
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('"tools"');
      // And the replacement is remembered there: the next call goes straight to it.
      expect((await post(restarted.mcpUrl('mp'), toolsList(3), sessionId)).status).toBe(200);
      await restarted.flush();
      const expirations = (await (await fetch(`${restarted.url}/api/expirations?upstream=mp`)).json()) as {
        healed: boolean;
      }[];
      expect(expirations.filter((e) => e.healed)).toHaveLength(1);
    } finally {
      await restarted.cleanup();
    }
  }, 30_000);

  it('never heals an error that is not a session error, and never an id it did not issue', async () => {
    const url = healing.mcpUrl('mp');
    const sessionId = await openSession(url);
    // An unknown method on a live session: a JSON-RPC error, passed through as it is.
    const unknown = await post(url, { jsonrpc: '2.0', id: 9, method: 'no/such/method' }, sessionId);
    expect(unknown.body).toContain('"error"');
    // An id heal mode did not seal (the upstream's own, or a made-up one) passes through unhealed.
    const madeUp = await post(url, toolsList(10), 'not-a-sealed-id');
    expect([400, 404]).toContain(madeUp.status);
    await healing.flush();
    const res = await fetch(`${healing.url}/api/expirations?upstream=mp`);
    const expirations = (await res.json()) as { healed: boolean }[];
    expect(expirations.filter((e) => e.healed)).toHaveLength(2);
  }, 30_000);
});
