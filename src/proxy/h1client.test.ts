import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type H1DispatchOptions, type H1Handler, H1Pool } from './h1client.js';

// A self-signed certificate for localhost and 127.0.0.1, made for these tests only.
const TLS_DIR = join(import.meta.dirname, '../../test/fixtures/tls');

interface Result {
  status: number;
  headers: string[];
  body: string;
  error: (Error & { code?: string }) | null;
  chunks: number;
}

/** Dispatches one request and collects what the handler sees. */
function send(
  pool: H1Pool,
  over: Partial<H1DispatchOptions> = {},
  hooks: Partial<H1Handler> = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { status: 0, headers: [], body: '', error: null, chunks: 0 };
    const parts: Buffer[] = [];
    pool.dispatch(
      { method: 'POST', path: '/mcp', headers: [], body: Buffer.from('{}'), headersTimeout: 5000, ...over },
      {
        onConnect: (abort) => hooks.onConnect?.(abort),
        onHeaders(status, headers, resume) {
          r.status = status;
          r.headers = headers;
          return hooks.onHeaders ? hooks.onHeaders(status, headers, resume) : true;
        },
        onData(chunk) {
          parts.push(Buffer.from(chunk));
          r.chunks++;
          return hooks.onData ? hooks.onData(chunk) : true;
        },
        onComplete() {
          r.body = Buffer.concat(parts).toString('latin1');
          resolve(r);
        },
        onError(err) {
          r.error = err;
          r.body = Buffer.concat(parts).toString('latin1');
          resolve(r);
        },
      },
    );
  });
}

const servers: Array<{ close(): void }> = [];
const pools: H1Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
  for (const s of servers.splice(0)) s.close();
});

/**
 * A raw TCP upstream: `answer` gets each complete request (head and body, read by
 * Content-Length) and writes whatever bytes it likes. Counts connections.
 */
async function rawUpstream(
  answer: (socket: Socket, request: { head: string; body: string; n: number }) => unknown,
): Promise<{ url: string; connections: () => number; requests: string[] }> {
  let connections = 0;
  const requests: string[] = [];
  const server: Server = createNetServer((socket) => {
    connections++;
    let buf = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', async (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const m = /content-length: (\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const body = buf.toString('latin1', end + 4, end + 4 + len);
        buf = buf.subarray(end + 4 + len);
        requests.push(`${head}\r\n\r\n${body}`);
        await answer(socket, { head, body, n: requests.length });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, connections: () => connections, requests };
}

/** Writes `bytes` one small piece at a time, each in its own TCP segment. */
async function trickle(socket: Socket, bytes: string, piece = 1): Promise<void> {
  for (let i = 0; i < bytes.length; i += piece) {
    socket.write(bytes.slice(i, i + piece), 'latin1');
    await new Promise((r) => setTimeout(r, 1));
  }
}

function pool(url: string, opts: ConstructorParameters<typeof H1Pool>[1] = {}): H1Pool {
  const p = new H1Pool(url, opts);
  pools.push(p);
  return p;
}

describe('H1Pool', () => {
  it('writes the request line, host, headers in order, the real Content-Length and the body in one piece', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const p = pool(`${up.url}/ignored`);
    const r = await send(p, {
      path: '/mcp?x=1',
      headers: ['Content-Type', 'application/json', 'Content-Length', '999', 'Mcp-Session-Id', 'abc'],
      body: Buffer.from('{"jsonrpc":"2.0"}'),
    });
    expect(r.error).toBeNull();
    expect(up.requests[0]).toBe(
      `POST /mcp?x=1 HTTP/1.1\r\nhost: ${new URL(up.url).host}\r\nContent-Type: application/json\r\n` +
        'Content-Length: 17\r\nMcp-Session-Id: abc\r\n\r\n{"jsonrpc":"2.0"}',
    );
    // A POST without one gets a Content-Length; a GET without a body gets none.
    await send(p, { headers: [], body: Buffer.from('{}') });
    expect(up.requests[1]).toMatch(/\r\ncontent-length: 2\r\n\r\n\{\}$/);
    await send(p, { method: 'GET', headers: ['Accept', 'text/event-stream'], body: null });
    expect(up.requests[2]).not.toMatch(/content-length/i);
  });

  it('parses a Content-Length answer in any split, keeps raw headers, and reuses the connection', async () => {
    const answer =
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n' +
      'X-Spaced:   padded value \t\r\nContent-Length: 27\r\n\r\n{"jsonrpc":"2.0","result":1}'.slice(0, -1);
    const up = await rawUpstream((s) => trickle(s, answer));
    const p = pool(up.url);
    const r1 = await send(p);
    const r2 = await send(p);
    for (const r of [r1, r2]) {
      expect(r.error).toBeNull();
      expect(r.status).toBe(200);
      expect(r.body).toBe('{"jsonrpc":"2.0","result":1');
      expect(r.headers).toEqual([
        'Content-Type',
        'application/json',
        'Set-Cookie',
        'a=1',
        'set-cookie',
        'b=2',
        'X-Spaced',
        'padded value',
        'Content-Length',
        '27',
      ]);
    }
    expect(up.connections()).toBe(1);
    expect(p.connections).toBe(1);
  });

  it('decodes chunked bodies split at every byte, with extensions and trailers, and hands chunks over as they come', async () => {
    const body = '4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n';
    const up = await rawUpstream((s) =>
      trickle(s, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`),
    );
    const p = pool(up.url);
    const r = await send(p);
    expect(r.error).toBeNull();
    expect(r.body).toBe('Wikipedia in\r\n\r\nchunks.');
    expect(r.chunks).toBeGreaterThan(3);
    // The connection is clean afterwards: a second answer on it parses too.
    expect((await send(p)).body).toBe('Wikipedia in\r\n\r\nchunks.');
    expect(up.connections()).toBe(1);
  });

  it('relays an SSE stream event by event before the upstream finishes', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const up = await rawUpstream(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
      s.write('d\r\ndata: first\n\n\r\n');
      await gate;
      s.write('e\r\ndata: second\n\n\r\n0\r\n\r\n');
    });
    const p = pool(up.url);
    const seen: string[] = [];
    const done = send(
      p,
      {},
      {
        onData(chunk) {
          seen.push(chunk.toString());
          if (seen.length === 1) release();
          return true;
        },
      },
    );
    const r = await done;
    expect(seen).toEqual(['data: first\n\n', 'data: second\n\n']);
    expect(r.body).toBe('data: first\n\ndata: second\n\n');
  });

  it('reads a close-delimited body to the end of the connection and does not reuse it', async () => {
    const up = await rawUpstream((s) => {
      s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
    });
    const p = pool(up.url);
    const r1 = await send(p);
    expect(r1.error).toBeNull();
    expect(r1.body).toBe('until the end');
    expect((await send(p)).body).toBe('until the end');
    expect(up.connections()).toBe(2);
  });

  it('skips 1xx answers, and reads no body for HEAD, 204 and 304', async () => {
    const up = await rawUpstream((s, { head }) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
      else if (head.includes('want: 204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (head.includes('want: 304')) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n');
      else
        s.write(
          'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n',
        );
    });
    const p = pool(up.url);
    expect((await send(p)).status).toBe(202);
    const head = await send(p, { method: 'HEAD', body: null });
    expect([head.status, head.body, head.error]).toEqual([200, '', null]);
    expect((await send(p, { headers: ['want', '204'] })).status).toBe(204);
    expect((await send(p, { headers: ['want', '304'] })).status).toBe(304);
    // All on one connection: nothing was left unread.
    expect(up.connections()).toBe(1);
  });

  it('closes instead of reusing on Connection: close, HTTP/1.0, or bytes after the answer', async () => {
    const up = await rawUpstream((s, { n }) => {
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na');
      else if (n === 2) s.write('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb');
      else if (n === 3) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ncEXTRA');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nd');
    });
    const p = pool(up.url);
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await send(p)).body);
    expect(bodies).toEqual(['a', 'b', 'c', 'd']);
    expect(up.connections()).toBe(4);
  });

  it('a handler that throws fails its request, not the process', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody'));
    const p = pool(up.url);
    const inHeaders = await send(
      p,
      {},
      {
        onHeaders: () => {
          throw new Error('refused header');
        },
      },
    );
    expect(inHeaders.error?.message).toBe('refused header');
    const inData = await send(
      p,
      {},
      {
        onData: () => {
          throw new Error('refused chunk');
        },
      },
    );
    expect(inData.error?.message).toBe('refused chunk');
    expect((await send(p)).body).toBe('body');
  });

  it('a Transfer-Encoding other than chunked reads to the end; chunked beside Content-Length is not reused', async () => {
    const up = await rawUpstream((s, { n }) => {
      if (n === 1) s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nall of it');
      else
        s.write(
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n2\r\nok\r\n0\r\n\r\n',
        );
    });
    const p = pool(up.url);
    expect((await send(p)).body).toBe('all of it');
    expect((await send(p)).body).toBe('ok');
    expect(p.connections).toBe(0);
  });

  it("keeps an idle connection for the server's Keep-Alive timeout less the threshold, then opens a new one", async () => {
    const up = await rawUpstream((s) =>
      s.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 1\r\n\r\nk'),
    );
    const p = pool(up.url, { keepAliveThresholdMs: 700 });
    await send(p);
    await send(p);
    expect(up.connections()).toBe(1);
    await new Promise((r) => setTimeout(r, 600)); // 300 ms allowed, plus the 100 ms sweep
    expect(p.connections).toBe(0);
    await send(p);
    expect(up.connections()).toBe(2);
    // A hint at or below the threshold: never reused.
    const p2 = pool(up.url, { keepAliveThresholdMs: 1000 });
    await send(p2);
    expect(p2.connections).toBe(0);
  });

  it('a connection the server closes while idle is not used again', async () => {
    const up = await rawUpstream(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
      await new Promise((r) => setTimeout(r, 20));
      s.end();
    });
    const p = pool(up.url);
    await send(p);
    await new Promise((r) => setTimeout(r, 100));
    const r = await send(p);
    expect(r.error).toBeNull();
    expect(up.connections()).toBe(2);
  });

  it('fails with undici-style codes: headers timeout, refused connection, a body cut short, a bad status line', async () => {
    const silent = await rawUpstream(() => {});
    const t0 = performance.now();
    const timedOut = await send(pool(silent.url), { headersTimeout: 300 });
    expect(timedOut.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(performance.now() - t0).toBeLessThan(1500);

    // A TLS handshake the server never answers: the connection never completes. The header
    // deadline counts from the request, so it ends the wait; the connect deadline does too.
    const mute = await rawUpstream(() => {});
    const t1 = performance.now();
    const handshake = await send(pool(mute.url.replace('http:', 'https:')), { headersTimeout: 300 });
    expect(handshake.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(performance.now() - t1).toBeLessThan(1500);
    const connect = await send(pool(mute.url.replace('http:', 'https:'), { connectTimeoutMs: 200 }));
    expect(connect.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT');

    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    closed.close();
    const refused = await send(pool(`http://127.0.0.1:${port}`));
    expect(refused.error?.code).toBe('ECONNREFUSED');

    const cut = await rawUpstream((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part');
      setTimeout(() => s.destroy(), 10);
    });
    const r = await send(pool(cut.url));
    expect(r.error?.code).toBe('UND_ERR_SOCKET');
    expect(r.body).toBe('only part');

    const garbage = await rawUpstream((s) => s.write('SSH-2.0-OpenSSH\r\n\r\n'));
    expect((await send(pool(garbage.url))).error?.code).toBe('HPE_INVALID_CONSTANT');
    const badLength = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'));
    expect((await send(pool(badLength.url))).error?.code).toBe('UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
    const badChunk = await rawUpstream((s) =>
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
    );
    expect((await send(pool(badChunk.url))).error?.code).toBe('HPE_INVALID_CHUNK_SIZE');
    const huge = await rawUpstream((s) => s.write(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`));
    expect((await send(pool(huge.url))).error?.code).toBe('UND_ERR_HEADERS_OVERFLOW');
  });

  it('refuses a header value with a line break and sends nothing', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const r = await send(pool(up.url), { headers: ['X-Evil', 'a\r\nInjected: 1'] });
    expect(r.error?.code).toBe('UND_ERR_INVALID_ARG');
    await new Promise((res) => setTimeout(res, 50));
    expect(up.requests).toEqual([]);
  });

  it('pauses the socket while the handler is full and resumes on request', async () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const up = await rawUpstream((s) =>
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`),
    );
    const p = pool(up.url);
    let resume: () => void = () => {};
    let paused = 0;
    const r = await send(
      p,
      {},
      {
        onHeaders: (_s, _h, res) => {
          resume = res;
          return true;
        },
        onData: () => {
          paused++;
          setTimeout(() => resume(), 1);
          return false;
        },
      },
    );
    expect(r.error).toBeNull();
    expect(r.body.length).toBe(big.length);
    expect(paused).toBe(r.chunks);
    expect(r.chunks).toBeGreaterThan(1);
  });

  it('an abort fails the request with its error and does not reuse the connection', async () => {
    const up = await rawUpstream(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    });
    const p = pool(up.url);
    let abort: (err?: Error) => void = () => {};
    const r = await send(
      p,
      {},
      {
        onConnect: (a) => {
          abort = a;
        },
        onData: () => {
          abort(new Error('client disconnected'));
          return true;
        },
      },
    );
    expect(r.error?.message).toBe('client disconnected');
    expect(p.connections).toBe(0);
    // Aborted before it was written: the upstream never sees it.
    const early = await send(p, {}, { onConnect: (a) => a() });
    expect(early.error?.code).toBe('UND_ERR_ABORTED');
    expect(up.requests.length).toBe(1);
    // A stale abort, called after its request ended, does not touch the next request on the connection.
    const keep = await rawUpstream((sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const p2 = pool(keep.url);
    let stale: (err?: Error) => void = () => {};
    await send(p2, {}, { onConnect: (a) => (stale = a) });
    const next = send(p2);
    stale(new Error('too late'));
    expect((await next).body).toBe('ok');
    expect(keep.connections()).toBe(1);
  });

  it('queues requests beyond maxConnections and serves them in order', async () => {
    const up = await rawUpstream(async (s, { body }) => {
      await new Promise((r) => setTimeout(r, 20));
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    const p = pool(up.url, { maxConnections: 2 });
    const all = Promise.all([1, 2, 3, 4, 5].map((i) => send(p, { body: Buffer.from(`#${i}`) })));
    expect(p.stats).toEqual({ connections: 2, idle: 0, running: 2, pending: 3 });
    const rs = await all;
    expect(p.stats).toEqual({ connections: 2, idle: 2, running: 0, pending: 0 });
    expect(rs.map((r) => r.body)).toEqual(['#1', '#2', '#3', '#4', '#5']);
    expect(up.connections()).toBe(2);
  });

  it('destroy fails what is in flight and refuses new requests', async () => {
    const up = await rawUpstream(() => {});
    const p = pool(up.url);
    const pending = send(p);
    await new Promise((r) => setTimeout(r, 30));
    await p.destroy();
    expect((await pending).error?.code).toBe('UND_ERR_DESTROYED');
    expect((await send(p)).error?.code).toBe('UND_ERR_DESTROYED');
  });

  it('talks to a real node:http server, keep-alive included', async () => {
    const server = createHttpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c) => parts.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"echo":${Buffer.concat(parts).toString()}}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    let sockets = 0;
    server.on('connection', () => sockets++);
    const p = pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    for (let i = 0; i < 3; i++) {
      const r = await send(p, { body: Buffer.from(`[${i}]`) });
      expect(r.body).toBe(`{"echo":[${i}]}`);
    }
    expect(sockets).toBe(1);
  });

  it('speaks TLS to https upstreams and verifies the certificate', async () => {
    const server = createHttpsServer(
      { key: readFileSync(join(TLS_DIR, 'key.pem')), cert: readFileSync(join(TLS_DIR, 'cert.pem')) },
      (_req, res) => res.end('secure'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const port = (server.address() as AddressInfo).port;
    const ca = readFileSync(join(TLS_DIR, 'cert.pem'));
    const ok = await send(pool(`https://localhost:${port}`, { tls: { ca } }), { method: 'GET', body: null });
    expect([ok.error, ok.status, ok.body]).toEqual([null, 200, 'secure']);
    const untrusted = await send(pool(`https://localhost:${port}`), { method: 'GET', body: null });
    expect(untrusted.error?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});
