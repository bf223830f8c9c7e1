/**
 * Heal mode's safety rules against a scripted upstream (node:http, free port): a heal that fails
 * returns the original answer; a request is replayed at most once; concurrent requests that meet
 * one expiry share one heal.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

interface Script {
  /** Answer to the n-th initialize (0-based): a session id, or an HTTP status to refuse with. */
  initialize(n: number): string | number;
  /** Whether a request on `sessionId` is answered (else 404 "Session not found"); `initialized` always is. */
  alive(sessionId: string): boolean;
}

function scriptedUpstream(script: Script) {
  const seen: { method: string; sessionId: string | null }[] = [];
  let inits = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const msg = JSON.parse(body || '{}') as { id?: unknown; method?: string };
      const sessionId = (req.headers['mcp-session-id'] as string | undefined) ?? null;
      seen.push({ method: msg.method ?? req.method!, sessionId });
      if (msg.method === 'initialize') {
        const answer = script.initialize(inits++);
        if (typeof answer === 'number') {
          res.writeHead(answer, { 'content-type': 'application/json' }).end('{"error":"refused"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': answer }).end(
          JSON.stringify({
            jsonrpc: '2.0',
            id: msg.id,
            result: {
              protocolVersion: '2025-06-18',
              capabilities: {},
              serverInfo: { name: 's', version: '1' },
            },
          }),
        );
        return;
      }
      if (req.method === 'GET' && sessionId && script.alive(sessionId)) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': sessionId });
        res.end(`: stream on ${sessionId}\n\n`);
        return;
      }
      if (msg.method === 'notifications/initialized' && sessionId) {
        res.writeHead(202).end();
        return;
      }
      if (!sessionId || !script.alive(sessionId)) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            jsonrpc: '2.0',
            id: msg.id ?? null,
            error: { code: -32001, message: 'Session not found' },
          }),
        );
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': sessionId })
        .end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { tools: [], on: sessionId } }));
    });
  });
  return {
    seen,
    start: () =>
      new Promise<string>((r) =>
        server.listen(0, '127.0.0.1', () =>
          r(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`),
        ),
      ),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function call(url: string, method: string, sessionId: string | null, id = 1) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method,
    params:
      method === 'initialize'
        ? { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } }
        : {},
  });
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, sessionId: res.headers.get('mcp-session-id'), body: await res.text() };
}

describe('heal mode rules (scripted upstream)', () => {
  let home: string;
  let upstream: ReturnType<typeof scriptedUpstream> | null = null;
  let proxy: TestProxy | null = null;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'heal-rules-'));
    process.env.MCP_PROBE_HOME = home;
  });
  afterAll(() => {
    delete process.env.MCP_PROBE_HOME;
    rmSync(home, { recursive: true, force: true });
  });
  afterEach(async () => {
    await proxy?.cleanup();
    await upstream?.close();
    proxy = null;
    upstream = null;
  });

  async function setUp(script: Script): Promise<string> {
    upstream = scriptedUpstream(script);
    const url = await upstream.start();
    proxy = await startTestProxy([upstreamConfig('s', url, { heal: true, timeoutSeconds: 5 })]);
    return proxy.mcpUrl('s');
  }

  it('returns the original answer when the replacement session cannot be opened', async () => {
    const url = await setUp({ initialize: (n) => (n === 0 ? 'first' : 503), alive: () => false });
    const opened = await call(url, 'initialize', null);
    const answer = await call(url, 'tools/list', opened.sessionId);
    expect(answer.status).toBe(404);
    expect(answer.body).toContain('Session not found');
    expect(upstream!.seen.filter((s) => s.method === 'tools/list')).toHaveLength(1);
  });

  it('replays a request once: a replay that fails too goes to the agent as it is', async () => {
    const url = await setUp({ initialize: (n) => `s${n}`, alive: () => false });
    const opened = await call(url, 'initialize', null);
    const answer = await call(url, 'tools/list', opened.sessionId);
    expect(answer.status).toBe(404);
    const calls = upstream!.seen.filter((s) => s.method === 'tools/list');
    expect(calls.map((c) => c.sessionId)).toEqual(['s0', 's1']);
  });

  it('heals a standalone GET stream opened on an expired session: the stream comes from the replacement', async () => {
    const url = await setUp({ initialize: (n) => `s${n}`, alive: (id) => id !== 's0' });
    const opened = await call(url, 'initialize', null);
    const res = await fetch(url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': opened.sessionId! },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBe(opened.sessionId);
    expect(await res.text()).toContain('stream on s1');
    expect(upstream!.seen.filter((s) => s.method === 'GET').map((s) => s.sessionId)).toEqual(['s0', 's1']);
  });

  it('heals once for concurrent requests that meet the same expiry, and sends them all to the new session', async () => {
    const url = await setUp({ initialize: (n) => `s${n}`, alive: (id) => id !== 's0' });
    const opened = await call(url, 'initialize', null);
    const answers = await Promise.all(
      [1, 2, 3, 4].map((id) => call(url, 'tools/list', opened.sessionId, id)),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body).toContain('"on":"s1"');
      expect(a.sessionId).toBe(opened.sessionId);
    }
    expect(upstream!.seen.filter((s) => s.method === 'initialize')).toHaveLength(2);
  });
});
