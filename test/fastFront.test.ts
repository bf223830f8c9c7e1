// The fast front (`src/proxy/h1server.ts`) against `node:http`: the same raw requests sent
// through a proxy with it and one without it must come back byte for byte the same (Date
// aside), and whatever the front does not take must reach Node with nothing lost.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import { listenOnLoopback } from '../src/demo/upstream.js';
import { FastFront, parseFastHead } from '../src/proxy/h1server.js';
import { REFUSED_PORT, sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

/** A raw upstream with one fixed answer per JSON-RPC method (POST) or HTTP method. */
function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's-1' });
    res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message"}\n\n');
    res.end();
    return;
  }
  if (req.method === 'DELETE') {
    res.writeHead(200).end();
    return;
  }
  const method = body ? (JSON.parse(body) as { method?: string }).method : undefined;
  const result = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { method, length: body.length } });
  switch (method) {
    case 'json':
      res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 's-1' }).end(result);
      return;
    case 'chunked':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(result.slice(0, 10));
      setTimeout(() => res.end(result.slice(10)), 5);
      return;
    case 'sse':
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: message\ndata: {"progress":1}\n\n');
      setTimeout(() => {
        res.write(`event: message\ndata: ${result}\n\n`);
        res.end();
      }, 5);
      return;
    case 'notify':
      res.writeHead(202).end();
      return;
    case 'empty':
      res.writeHead(204, { 'x-empty': 'yes' }).end();
      return;
    case 'missing':
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"jsonrpc":"2.0","id":null,"error":{}}');
      return;
    case 'repeated':
      res.setHeader('X-Tag', ['a', 'b']);
      res.setHeader('x-other', ' spaced ');
      res.writeHead(200, { 'content-type': 'application/json' }).end(result);
      return;
    default:
      res.writeHead(200, { 'content-type': 'application/json' }).end(result);
  }
}

const post = (method: string, extra = '', path = '/mcp/up'): string => {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method });
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
};
const CLOSE = 'Connection: close\r\n';

/** Sends `parts` (waiting `gapMs` between them) on one connection; everything it gets until the server closes. */
function exchange(port: number, parts: (string | Buffer)[], gapMs = 30): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    const timer = setTimeout(() => socket.destroy(new Error(`no close: ${Buffer.concat(chunks)}`)), 10_000);
    socket.on('close', () => clearTimeout(timer));
    socket.on('connect', async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await sleep(gapMs);
        socket.write(parts[i]!);
      }
    });
  });
}

const normalize = (raw: string) => raw.replace(/\r\nDate: [^\r]+/g, '\r\nDate: (date)');

describe('the fast front answers as node:http does', () => {
  let upstream: Server;
  let fast: TestProxy;
  let plain: TestProxy;
  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => answer(req, res, Buffer.concat(chunks).toString()));
    });
    const port = await listenOnLoopback(upstream);
    const upstreams = [
      upstreamConfig('up', `http://127.0.0.1:${port}/mcp`),
      upstreamConfig('down', `http://127.0.0.1:${REFUSED_PORT}/mcp`),
    ];
    // No timed flushes (only `flush()` writes): /healthz shows each proxy's recorder counts, which
    // must not depend on whether one proxy's timer fired before the other's.
    const recorder = { flushIntervalMs: 600_000 };
    fast = await startTestProxy(upstreams, { recorder });
    // The user's switch (`server.fastHttp: false`): every request through node:http.
    plain = await startTestProxy(upstreams, {
      config: { server: { ...defaultConfig().server, fastHttp: false } },
      recorder,
    });
    expect(fast.front).not.toBeNull();
    expect(plain.front).toBeNull();
  });
  afterAll(async () => {
    await fast?.cleanup();
    await plain?.cleanup();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
  });

  /** The same parts through both proxies; returns the fast one's answer and how many connections it handed to Node. */
  async function both(parts: string[], gapMs?: number): Promise<{ text: string; handedOff: number }> {
    const before = fast.front!.stats.handedOff;
    const [a, b] = await Promise.all([exchange(fast.port, parts, gapMs), exchange(plain.port, parts, gapMs)]);
    expect(normalize(a)).toBe(normalize(b));
    return { text: a, handedOff: fast.front!.stats.handedOff - before };
  }

  it('every kind of answer on one keep-alive connection, all on the fast path', async () => {
    const { text, handedOff } = await both([
      post('json'),
      post('chunked'),
      post('sse'),
      post('notify'),
      post('empty'),
      post('missing'),
      post('repeated'),
      'GET /mcp/up HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nMcp-Session-Id: s-1\r\n\r\n',
      'DELETE /mcp/up?x=1 HTTP/1.1\r\nHost: x\r\nMcp-Session-Id: s-1\r\n\r\n',
      post('json', CLOSE),
    ]);
    expect(handedOff).toBe(0);
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(10);
    expect(text).toContain('HTTP/1.1 202 Accepted\r\n');
    expect(text).toContain('HTTP/1.1 204 No Content\r\nx-empty: yes\r\n');
    expect(text).toContain('X-Tag: a\r\nX-Tag: b\r\n');
    expect(text).toContain('Transfer-Encoding: chunked\r\n');
    expect(text).toContain('Keep-Alive: timeout=65\r\n');
    expect(text).toMatch(/"length":40}}\r\n0\r\n\r\n$/);
  });

  it('pipelined requests in one write, and a body that arrives in pieces, stay on the fast path', async () => {
    const pipelined = await both([post('json') + post('sse') + post('json', CLOSE)]);
    expect(pipelined.handedOff).toBe(0);
    expect(pipelined.text.match(/HTTP\/1\.1 200/g)).toHaveLength(3);
    const request = post('json', CLOSE);
    const split = await both([request.slice(0, 40), request.slice(40, -5), request.slice(-5)]);
    expect(split.handedOff).toBe(0);
    expect(split.text).toContain('"length":40');
  });

  it('a large body written in many pieces reaches the upstream whole, on the fast path', async () => {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'json',
      params: { pad: 'x'.repeat(300_000) },
    });
    const request = `POST /mcp/up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${CLOSE}\r\n${body}`;
    const parts: string[] = [];
    for (let at = 0; at < request.length; at += 8192) parts.push(request.slice(at, at + 8192));
    const { text, handedOff } = await both(parts, 1);
    expect(handedOff).toBe(0);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain(`"length":${body.length}}`);
  });

  it('an unreachable upstream gets the same 502 from both', async () => {
    const { text, handedOff } = await both([post('json', CLOSE, '/mcp/down')]);
    expect(handedOff).toBe(0);
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain('"id":1');
  });

  it.each([
    [
      'a chunked request body',
      `POST /mcp/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${CLOSE}\r\n5\r\n{"a":\r\n3\r\n"b"\r\n1\r\n}\r\n0\r\n\r\n`,
    ],
    [
      'a body over the limit',
      `POST /mcp/up HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n${CLOSE}\r\n{}`,
    ],
    ['obs-text in a header value', post('json', `X-Name: caf\xe9\r\n${CLOSE}`)],
    ['no Host', `POST /mcp/up HTTP/1.1\r\nContent-Length: 2\r\n${CLOSE}\r\n{}`],
    ['HTTP/1.0', 'POST /mcp/up HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'],
    ['an unknown upstream', post('json', CLOSE, '/mcp/nobody')],
    [
      'a method the route does not allow',
      `PUT /mcp/up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n${CLOSE}\r\n{}`,
    ],
    ['a body on GET', `GET /mcp/up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n${CLOSE}\r\n{}`],
    [
      'two Content-Lengths',
      `POST /mcp/up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n${CLOSE}\r\n{}`,
    ],
    ['a space before the colon', `POST /mcp/up HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n${CLOSE}\r\n{}`],
    ['a bare LF', `POST /mcp/up HTTP/1.1\r\nHost: x\nContent-Length: 2\r\n${CLOSE}\r\n{}`],
    ['another route', `GET /healthz HTTP/1.1\r\nHost: x\r\n${CLOSE}\r\n`],
  ])('%s goes to node:http, which answers it as always', async (_name, raw) => {
    const { text, handedOff } = await both([raw]);
    expect(handedOff).toBe(1);
    expect(text).toMatch(/^HTTP\/1\.[01] \d{3} /);
  });

  it('a connection moves to node:http at its first request the front does not take, losing nothing', async () => {
    const { text, handedOff } = await both([
      post('json'),
      `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n${post('sse')}`,
      post('json', CLOSE),
    ]);
    expect(handedOff).toBe(1);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '200', '200', '200']);
    expect(text).toContain('"status":"ok"');
  });

  it('records the same exchanges either way', async () => {
    await fast.flush();
    await plain.flush();
    const rows = async (p: TestProxy) =>
      (await p.store.listExchanges({ upstream: 'up', limit: 1000 }))
        .map((e) => [e.httpMethod, e.rpcMethod, e.httpStatus, e.outcome, e.sessionHash !== null].join(' '))
        .sort();
    const seen = await rows(fast);
    expect(seen.length).toBeGreaterThan(20);
    expect(seen).toEqual(await rows(plain));
  });
});

describe('the fast front on its own', () => {
  let server: Server;
  let front: FastFront<string>;
  let port: number;
  const errors: unknown[] = [];
  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'content-length': '4' }).end('node'));
    server.keepAliveTimeout = 1000;
    server.requestTimeout = 1500;
    front = new FastFront<string>(server, {
      maxBodyBytes: 1000,
      accept: (_method, url) => (url.startsWith('/fast') ? url : null),
      handle(route, req, res) {
        if (route === '/fast/throw') throw new Error('handler failed');
        if (route === '/fast/big') {
          // Writes until the socket says wait, then waits for 'drain' each time.
          res.writeHead(200, ['content-type', 'text/plain']);
          let left = 64;
          const more = () => {
            while (left > 0) {
              left--;
              if (!res.write(Buffer.alloc(64 * 1024, 97))) {
                res.once('drain', more);
                return;
              }
            }
            res.end();
          };
          more();
          return;
        }
        const body = req.body?.toString() ?? '';
        res.writeHead(200, { 'content-length': String(body.length + 4) });
        res.end(`fast${body}`);
      },
      onError: (err) => errors.push(err),
    });
    port = await listenOnLoopback(server);
  });
  afterAll(async () => {
    front.stop();
    server.closeAllConnections();
    front.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('closes an idle keep-alive connection after keepAliveTimeout, as node:http does', async () => {
    const started = Date.now();
    const text = await exchange(port, ['GET /fast HTTP/1.1\r\nHost: x\r\n\r\n']);
    const took = Date.now() - started;
    expect(text).toMatch(
      /^HTTP\/1\.1 200 OK\r\ncontent-length: 4\r\nDate: [^\r]+\r\nConnection: keep-alive\r\nKeep-Alive: timeout=1\r\n\r\nfast$/,
    );
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3500);
  });

  it('answers 408 and closes when a body does not arrive within requestTimeout', async () => {
    const started = Date.now();
    const text = await exchange(port, ['POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc']);
    expect(text).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  it('hands a head that stalls half-way to node:http, which reads the rest', async () => {
    const before = front.stats.handedOff;
    const text = await exchange(
      port,
      ['POST /fast HTTP/1.1\r\nHo', `st: x\r\nContent-Length: 2\r\n${CLOSE}\r\nhi`],
      1300,
    );
    expect(front.stats.handedOff - before).toBe(1);
    expect(text).toMatch(/\r\n\r\nnode$/);
  });

  it('a slow reader gets every byte (backpressure through drain)', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket: Socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET /fast/big HTTP/1.1\r\nHost: x\r\n${CLOSE}\r\n`);
        socket.pause();
        setTimeout(() => socket.resume(), 300);
      });
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    });
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    // Chunked framing read chunk by chunk: sizes, data, CRLFs and the last chunk all in place.
    let at = 0;
    let data = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      const size = Number.parseInt(body.slice(at, eol), 16);
      at = eol + 2 + size;
      expect(body.slice(at, at + 2)).toBe('\r\n');
      at += 2;
      data += size;
      if (size === 0) break;
    }
    expect(at).toBe(body.length);
    expect(data).toBe(64 * 64 * 1024);
  });

  it('a handler that throws closes only its own connection', async () => {
    const text = await exchange(port, ['GET /fast/throw HTTP/1.1\r\nHost: x\r\n\r\n']);
    expect(text).toBe('');
    expect(errors).toHaveLength(1);
    expect(await exchange(port, [`GET /fast HTTP/1.1\r\nHost: x\r\n${CLOSE}\r\n`])).toMatch(/fast$/);
  });

  it('a client that half-closes after its request still ends cleanly', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.end('POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi'),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    });
    expect(text === '' || text.endsWith('fasthi')).toBe(true);
    expect(front.stats.busy).toBe(0);
  });
});

describe('parseFastHead', () => {
  const head = (s: string) => parseFastHead(Buffer.from(s, 'latin1'), 16 * 1024);

  it('reads a plain head: raw names kept, values trimmed, keep-alive and Content-Length', () => {
    const raw =
      'POST /mcp/a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  v \t\r\ncontent-length: 12\r\nConnection: Close\r\n\r\n';
    const h = head(`${raw}{"a":"body"}`);
    expect(h).toEqual({
      method: 'POST',
      url: '/mcp/a?b=1',
      rawHeaders: ['Host', 'x', 'X-A', 'v', 'content-length', '12', 'Connection', 'Close'],
      contentLength: 12,
      keepAlive: false,
      headBytes: raw.length,
    });
    expect(head('GET /mcp/a HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n')).toMatchObject({
      rawHeaders: ['Host', 'x', 'X-Empty', ''],
      contentLength: 0,
      keepAlive: true,
    });
  });

  it('leaves a head with more header lines than node:http keeps (2000) to node:http', () => {
    const lines = (n: number) => 'X: y\r\n'.repeat(n);
    expect(head(`GET /mcp/a HTTP/1.1\r\nHost: x\r\n${lines(1999)}\r\n`)).not.toBeNull();
    expect(head(`GET /mcp/a HTTP/1.1\r\nHost: x\r\n${lines(2000)}\r\n`)).toBeNull();
  });

  it('is undefined until the head is whole, null past the size limit', () => {
    expect(head('POST /mcp/a HTTP/1.1\r\nHost: x\r\n')).toBeUndefined();
    expect(parseFastHead(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(100)}`), 64)).toBeNull();
    expect(parseFastHead(Buffer.from(`GET / HTTP/1.1\r\nHost: ${'a'.repeat(100)}\r\n\r\n`), 64)).toBeNull();
  });

  it.each([
    'HEAD /mcp/a HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST /mcp/a HTTP/1.0\r\nHost: x\r\n\r\n',
    'POST  /mcp/a HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST mcp/a HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nX: y\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nX: \xff\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST /mcp/a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n',
    'GET /mcp/a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'DELETE /mcp/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n',
  ])('leaves %j to node:http', (raw) => {
    expect(head(raw)).toBeNull();
  });
});
