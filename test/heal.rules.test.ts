/**
 * Heal mode's safety rules against a scripted upstream (node:http, free port): a heal that fails
 * returns the original answer; a request is replayed at most once; concurrent requests that meet
 * one expiry share one heal; an agent's GET stream outlives the upstream's and goes on from a
 * replacement session.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupTelemetry, type Telemetry } from '../src/telemetry/index.js';
import { openEventStream } from './fixtures/upstreams.js';
import { startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

interface Script {
  /** Answer to the n-th initialize (0-based): a session id, or an HTTP status to refuse with. */
  initialize(n: number): string | number;
  /** Whether a request on `sessionId` is answered (else 404 "Session not found"); `initialized` always is. */
  alive(sessionId: string): boolean;
  /** The body of a GET stream on a live session, which then ends (default: one comment naming the session). */
  stream?(sessionId: string): string;
  /** A status to refuse the n-th GET with (0-based), or null to answer it as above. */
  refuseStream?(n: number): number | null;
}

function scriptedUpstream(script: Script) {
  const seen: { method: string; sessionId: string | null; lastEventId?: string }[] = [];
  /** Each request's `traceparent` headers, in order. */
  const traceparents: string[][] = [];
  let inits = 0;
  let gets = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const msg = JSON.parse(body || '{}') as { id?: unknown; method?: string };
      const sessionId = (req.headers['mcp-session-id'] as string | undefined) ?? null;
      const lastEventId = req.headers['last-event-id'] as string | undefined;
      traceparents.push(
        req.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1]!.toLowerCase() === 'traceparent'),
      );
      seen.push({ method: msg.method ?? req.method!, sessionId, ...(lastEventId ? { lastEventId } : {}) });
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
      const refusal = req.method === 'GET' ? (script.refuseStream?.(gets++) ?? null) : null;
      if (refusal !== null) {
        res.writeHead(refusal, { 'content-type': 'application/json' }).end('{"error":"no"}');
        return;
      }
      if (req.method === 'GET' && sessionId && script.alive(sessionId)) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': sessionId });
        res.end(script.stream?.(sessionId) ?? `: stream on ${sessionId}\n\n`);
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
    traceparents,
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

  async function setUp(script: Script, heal = true, telemetry?: Telemetry): Promise<string> {
    upstream = scriptedUpstream(script);
    const url = await upstream.start();
    proxy = await startTestProxy([upstreamConfig('s', url, { heal, timeoutSeconds: 5 })], { telemetry });
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
    const url = await setUp({
      initialize: (n) => `s${n}`,
      alive: (id) => id !== 's0',
      stream: (id) => `data: {"jsonrpc":"2.0","method":"notifications/message","params":{"on":"${id}"}}\n\n`,
    });
    const opened = await call(url, 'initialize', null);
    const stream = await openEventStream(url, {
      sessionId: opened.sessionId!,
      headers: { 'last-event-id': 'an-event-of-s0' },
    });
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers.get('mcp-session-id')).toBe(opened.sessionId);
      expect((await stream.nextEvent()).data).toContain('"on":"s1"');
    } finally {
      stream.close();
    }
    // The agent's Last-Event-ID named an event of s0: it is not sent to the replacement.
    const gets = upstream!.seen.filter((s) => s.method === 'GET');
    expect(gets.slice(0, 2)).toEqual([
      { method: 'GET', sessionId: 's0', lastEventId: 'an-event-of-s0' },
      { method: 'GET', sessionId: 's1' },
    ]);
  });

  it("keeps the agent's GET stream open when the upstream's ends, and splices in the next one from a replacement session", async () => {
    let streams = 0;
    const url = await setUp({
      initialize: (n) => `s${n}`,
      // s0 dies with its first stream (an upstream restart); s1 lives.
      alive: (id) => id !== 's0' || streams === 0,
      stream: (id) => {
        streams++;
        // s0's stream breaks off in the middle of an event.
        return id === 's0'
          ? 'data: {"jsonrpc":"2.0","method":"notifications/message","params":{"on":"s0"}}\n\ndata: {"jsonrpc":"2.0","meth'
          : `data: {"jsonrpc":"2.0","method":"notifications/message","params":{"on":"${id}"}}\n\n`;
      },
    });
    const opened = await call(url, 'initialize', null);
    const stream = await openEventStream(url, { sessionId: opened.sessionId! });
    try {
      expect(stream.status).toBe(200);
      await stream.nextEvent((e) => e.data.includes('"on":"s1"'));
      const data = stream.events.map((e) => e.data);
      // The first event, the one cut off (closed by the proxy, unparseable), then s1's whole.
      expect(data[0]).toContain('"on":"s0"');
      expect(JSON.parse(data[2]!)).toMatchObject({ params: { on: 's1' } });
    } finally {
      stream.close();
    }
    const gets = upstream!.seen.filter((s) => s.method === 'GET').map((s) => s.sessionId);
    expect(gets.slice(0, 3)).toEqual(['s0', 's0', 's1']);
    await proxy!.flush();
    const expirations = (await (await fetch(`${proxy!.url}/api/expirations?upstream=s`)).json()) as {
      healed: boolean;
    }[];
    expect(expirations.filter((e) => e.healed)).toHaveLength(1);
  });

  it('reopens a stream the upstream ended on a live session there, resuming after the last event', async () => {
    let n = 0;
    const url = await setUp({
      initialize: (i) => `s${i}`,
      alive: () => true,
      stream: () =>
        `id: e${++n}\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"n":${n}}}\n\n`,
    });
    const opened = await call(url, 'initialize', null);
    const stream = await openEventStream(url, { sessionId: opened.sessionId! });
    try {
      await stream.nextEvent((e) => e.id === 'e2');
    } finally {
      stream.close();
    }
    const gets = upstream!.seen.filter((s) => s.method === 'GET');
    expect(gets.slice(0, 2)).toEqual([
      { method: 'GET', sessionId: 's0' },
      { method: 'GET', sessionId: 's0', lastEventId: 'e1' },
    ]);
    expect(upstream!.seen.filter((s) => s.method === 'initialize')).toHaveLength(1);
  });

  it('reopens no stream of a session the agent ended (DELETE), and opens no replacement for it', async () => {
    const deleted = () => upstream!.seen.some((s) => s.method === 'DELETE');
    const url = await setUp({ initialize: (n) => `s${n}`, alive: () => !deleted() });
    const opened = await call(url, 'initialize', null);
    const stream = await openEventStream(url, { sessionId: opened.sessionId! });
    expect(stream.status).toBe(200);
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': opened.sessionId! } });
    await del.arrayBuffer();
    await stream.ended;
    expect(upstream!.seen.filter((s) => s.method === 'initialize')).toHaveLength(1);
  });

  it("tries a reopened stream again while the upstream answers 503, and ends the agent's at a 405", async () => {
    const url = await setUp({
      initialize: (n) => `s${n}`,
      alive: () => true,
      refuseStream: (n) => (n === 1 ? 503 : n === 2 ? 405 : null),
    });
    const opened = await call(url, 'initialize', null);
    const stream = await openEventStream(url, { sessionId: opened.sessionId! });
    expect(stream.status).toBe(200);
    await stream.ended;
    expect(upstream!.seen.filter((s) => s.method === 'GET')).toHaveLength(3);
  });

  it("ends the agent's GET stream with the upstream's when heal mode is off", async () => {
    const url = await setUp({ initialize: (n) => `s${n}`, alive: () => true }, false);
    const opened = await call(url, 'initialize', null);
    const res = await fetch(url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': opened.sessionId! },
    });
    expect(await res.text()).toBe(': stream on s0\n\n');
    expect(upstream!.seen.filter((s) => s.method === 'GET')).toHaveLength(1);
  });

  it("a replay carries its own traceparent only, not the failed attempt's beside it", async () => {
    const telemetry = setupTelemetry({
      env: {},
      spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
    });
    const url = await setUp({ initialize: (n) => `s${n}`, alive: (id) => id !== 's0' }, true, telemetry);
    const opened = await call(url, 'initialize', null);
    expect((await call(url, 'tools/list', opened.sessionId)).status).toBe(200);
    const sent = upstream!.seen.map((s, i) => ({
      method: s.method,
      traceparents: upstream!.traceparents[i]!.length,
    }));
    const calls = sent.filter((s) => s.method === 'tools/list');
    expect(calls).toEqual([
      { method: 'tools/list', traceparents: 1 },
      { method: 'tools/list', traceparents: 1 },
    ]);
    const [first, replay] = upstream!.traceparents.filter(
      (_, i) => upstream!.seen[i]!.method === 'tools/list',
    );
    expect(replay![0]).not.toBe(first![0]);
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
