// What a security review found at the seam of the proxy's former hand-written HTTP stack, kept
// as regression tests: an upstream's framing forging the next answer on a keep-alive connection,
// deeply nested bodies read whole on the event loop, and stalled bodies held for minutes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, writeConfig } from './helpers/cli.js';
import { startTestProxy, upstreamConfig } from './helpers/proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const FORGED_BODY = '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"forged"}]}}';
const FORGED = `HTTP/1.1 200 OK\r\nmcp-session-id: evil-chosen\r\ncontent-type: application/json\r\ncontent-length: ${FORGED_BODY.length}\r\n\r\n${FORGED_BODY}`;
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;

/** Answers each request with `answer` as raw bytes. */
async function evilUpstream(answer: string): Promise<string> {
  const server = createNetServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', () => socket.write(answer, 'latin1'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

async function goodUpstream(): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'genuine' });
      res.end('{"jsonrpc":"2.0","id":2,"result":{}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

function post(agent: Agent, url: string, body: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string; reused: boolean }>(
    (resolve, reject) => {
      const req = httpRequest(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: text, reused: req.reusedSocket }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    },
  );
}

describe('an upstream cannot forge the next answer on a keep-alive connection', () => {
  const shapes = {
    'Content-Length beside Transfer-Encoding: chunked': `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(`hello${FORGED}`)}0\r\n\r\n`,
    'Transfer-Encoding: identity beside Content-Length': `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello${FORGED}`,
    'a lenient status line (HTTP/1.x 2e2)': `HTTP/1.x 2e2 OK\r\ncontent-type: application/json\r\nContent-Length: 5\r\n\r\nhello${FORGED}`,
  };
  for (const [shape, answer] of Object.entries(shapes)) {
    it(shape, async () => {
      const p = await startTestProxy([
        upstreamConfig('evil', await evilUpstream(answer)),
        upstreamConfig('good', await goodUpstream()),
      ]);
      cleanups.push(() => p.cleanup());
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      cleanups.push(() => agent.destroy());
      const first = await post(agent, p.mcpUrl('evil'), '{"jsonrpc":"2.0","id":1,"method":"tools/list"}');
      const second = await post(agent, p.mcpUrl('good'), '{"jsonrpc":"2.0","id":2,"method":"tools/list"}');
      expect(first.status).toBe(502);
      expect(first.body).toContain('upstream \\"evil\\" is unreachable');
      // The same connection carries the next request, and its answer is the genuine one.
      expect(second.reused).toBe(true);
      expect(second.status).toBe(200);
      expect(second.headers['mcp-session-id']).toBe('genuine');
      expect(second.body).toBe('{"jsonrpc":"2.0","id":2,"result":{}}');
    });
  }

  it('a well-framed answer keeps its length; a chunked one gets chunks of the proxy own', async () => {
    const body = '{"jsonrpc":"2.0","id":1,"result":{}}';
    const byLength = await evilUpstream(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const chunked = await evilUpstream(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(body)}0\r\n\r\n`,
    );
    const p = await startTestProxy([upstreamConfig('len', byLength), upstreamConfig('chunked', chunked)]);
    cleanups.push(() => p.cleanup());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const a = await post(agent, p.mcpUrl('len'), '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    const b = await post(agent, p.mcpUrl('chunked'), '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    expect([a.status, a.headers['content-length'], a.headers['transfer-encoding'], a.body]).toEqual([
      200,
      String(body.length),
      undefined,
      body,
    ]);
    expect([b.status, b.headers['content-length'], b.headers['transfer-encoding'], b.body]).toEqual([
      200,
      undefined,
      'chunked',
      body,
    ]);
  });
});

// Memory of a real `serve` process, from the kernel (Linux): VmHWM is its peak RSS so far.
function memoryKb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function serveWith(server: object) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-dos-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => sink.close(() => r())));
  const configPath = writeConfig(dir, {
    upstreams: [{ id: 'up', url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/mcp` }],
    server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1, ...server },
    storage: { url: `sqlite:${join(dir, 'probe.db')}` },
  });
  const serve = await startServe(configPath, {
    env: { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' },
  });
  cleanups.push(async () => {
    serve.child.kill('SIGKILL');
    await serve.exited;
  });
  // Warm up: the first requests load modules and fill caches that are not the bodies' cost.
  for (let i = 0; i < 3; i++) {
    await fetch(`${serve.url}/healthz`);
    await fetch(`${serve.url}/mcp/up`, { method: 'POST', body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
  }
  return serve;
}

/** Sends a request head declaring `length` and then `sent` bytes of body, and keeps the socket. */
function partialPost(url: string, length: number, body: Buffer): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST /mcp/up HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
      );
      socket.write(body);
      resolve(socket);
    });
    socket.on('error', () => {});
  });
}

/** Everything a socket receives until it closes (or `ms` pass). */
function received(socket: Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(text), ms);
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe.skipIf(process.platform !== 'linux')('request bodies cannot exhaust the proxy', () => {
  it('two 10 MiB deeply nested bodies at once: forwarded untouched, method unknown, little memory, /healthz keeps answering', async () => {
    const serve = await serveWith({ maxBodyBytes: 11 * 1024 * 1024 });
    const pid = serve.child.pid!;
    const half = 5 * 1024 * 1024;
    const nested = Buffer.alloc(2 * half);
    nested.fill(0x5b, 0, half);
    nested.fill(0x5d, half);
    const before = memoryKb(pid);
    let worstHealthzMs = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const start = performance.now();
        await fetch(`${serve.url}/healthz`);
        worstHealthzMs = Math.max(worstHealthzMs, performance.now() - start);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answers = await Promise.all(
      [0, 1].map(() =>
        fetch(`${serve.url}/mcp/up`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: nested,
        }).then(async (r) => [r.status, await r.text()] as const),
      ),
    );
    polling = false;
    await poller;
    const after = memoryKb(pid);
    // The upstream's own answer reached the client: the body was forwarded, not refused.
    for (const [status, text] of answers)
      expect([status, text]).toEqual([400, expect.stringContaining('Parse error')]);
    expect((after.peak - before.rss) / 1024).toBeLessThan(150);
    expect(worstHealthzMs).toBeLessThan(300);
    const exchanges = (await (await fetch(`${serve.url}/api/sessions?upstream=up`)).json()) as unknown[];
    expect(Array.isArray(exchanges)).toBe(true);
  });

  it('20 stalled near-limit bodies: the budget answers 503 with Retry-After at once, the deadline 408, little memory', async () => {
    const serve = await serveWith({ bodyTimeoutSeconds: 2 });
    const pid = serve.child.pid!;
    const limit = 10 * 1024 * 1024;
    const sent = Buffer.alloc(Math.floor(limit * 0.99) - 1, 0x20);
    const before = memoryKb(pid);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => partialPost(serve.url, limit, sent)));
    const answers = await Promise.all(sockets.map((s) => received(s, 8000)));
    const after = memoryKb(pid);
    for (const s of sockets) s.destroy();
    const statuses = answers.map((a) => /^HTTP\/1\.1 (\d{3})/.exec(a)?.[1] ?? 'none');
    const overBudget = answers.filter((a) => a.startsWith('HTTP/1.1 503'));
    const timedOut = answers.filter((a) => a.startsWith('HTTP/1.1 408'));
    // Every stalled client got an answer (no one waits five minutes), and the connection closed.
    expect(statuses.filter((s) => s === 'none')).toEqual([]);
    expect(overBudget.length + timedOut.length).toBe(20);
    expect(overBudget.length).toBeGreaterThan(0);
    for (const a of overBudget) expect(a).toMatch(/retry-after: 1/i);
    for (const a of timedOut) expect(a).toContain('bodyTimeoutSeconds');
    expect((after.peak - before.rss) / 1024).toBeLessThan(120);
    // And the proxy serves the next request.
    const ok = await fetch(`${serve.url}/mcp/up`, {
      method: 'POST',
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(ok.status).toBe(400);
  });
});
