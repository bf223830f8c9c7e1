import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { type RunningServer, startServer } from '../src/server.js';
import { setupTelemetry } from '../src/telemetry/setup.js';
import { injectMetaTraceparent } from '../src/telemetry/traceContext.js';
import { upstreamConfig } from './helpers/proxy.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('injectMetaTraceparent (pure)', () => {
  it('sets params._meta.traceparent on requests and notifications, keeping everything else', () => {
    const body = JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 'p' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, result: {} },
    ]);
    expect(JSON.parse(injectMetaTraceparent(body, TP)!)).toEqual([
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'x', _meta: { progressToken: 'p', traceparent: TP } },
      },
      { jsonrpc: '2.0', method: 'notifications/initialized', params: { _meta: { traceparent: TP } } },
      { jsonrpc: '2.0', id: 2, result: {} },
    ]);
  });

  it('changes nothing when a message carries its own, or the body is not JSON-RPC', () => {
    const own = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'ping',
      params: { _meta: { traceparent: 'x' } },
    });
    expect(injectMetaTraceparent(own, TP)).toBeNull();
    expect(injectMetaTraceparent('not json', TP)).toBeNull();
    expect(injectMetaTraceparent('{"jsonrpc":"2.0","id":1,"result":{}}', TP)).toBeNull();
    expect(injectMetaTraceparent('{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}', TP)).toBeNull();
  });
});

/** An upstream that records what it receives and answers every POST with an empty result. */
async function recordingUpstream(): Promise<{
  server: Server;
  url: string;
  received: Array<{ body: string; headers: IncomingMessage['headers'] }>;
}> {
  const received: Array<{ body: string; headers: IncomingMessage['headers'] }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ body, headers: req.headers });
      const answer = JSON.stringify({ jsonrpc: '2.0', id: JSON.parse(body).id ?? null, result: {} });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, received };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function proxyWith(injectMeta: boolean) {
  const upstream = await recordingUpstream();
  cleanups.push(() => new Promise((r) => upstream.server.close(() => r())));
  const base = defaultConfig();
  const running: RunningServer = await startServer({
    config: {
      ...base,
      upstreams: [upstreamConfig('up', upstream.url)],
      server: { ...base.server, port: 0, shutdownGraceSeconds: 1 },
      storage: { url: 'sqlite::memory:' },
      telemetry: { injectMeta },
    },
    logger: silentLogger,
    telemetry: setupTelemetry({
      env: {},
      spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
    }),
  });
  cleanups.push(() => running.close());
  return { running, upstream };
}

describe('telemetry.injectMeta through the proxy', () => {
  const request = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} });
  const send = (url: string) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: request });

  it('off (the default): the upstream receives the body byte for byte', async () => {
    const { running, upstream } = await proxyWith(false);
    expect((await send(`${running.url}/mcp/up`)).status).toBe(200);
    expect(upstream.received[0]!.body).toBe(request);
    expect(upstream.received[0]!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });

  it('on: params._meta.traceparent names the same span as the header, with a correct Content-Length', async () => {
    const { running, upstream } = await proxyWith(true);
    expect((await send(`${running.url}/mcp/up`)).status).toBe(200);
    const got = upstream.received[0]!;
    expect(JSON.parse(got.body).params._meta.traceparent).toBe(got.headers.traceparent);
    expect(Number(got.headers['content-length'])).toBe(Buffer.byteLength(got.body));
  });
});
