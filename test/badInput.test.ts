// Bad input: whatever the client or the upstream sends is forwarded untouched,
// the observation tee never throws, and the proxy stays healthy; oversized bodies and bad
// configs are refused clearly.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { initializeMessage, postJsonRpc, upstreamPool } from './fixtures/upstreams.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await upstreams.closeAll();
});

interface Received {
  body: Buffer;
  rawHeaders: string[];
}

/**
 * An upstream that keeps what it received and answers with `reply` (bytes and content type),
 * so both directions can be compared byte for byte.
 */
async function mirrorUpstream(
  reply: (req: IncomingMessage, body: Buffer) => { type: string; body: Buffer; status?: number },
) {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ body, rawHeaders: req.rawHeaders });
      const r = reply(req, body);
      res.writeHead(r.status ?? 200, { 'content-type': r.type });
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, received };
}

async function proxyFor(url: string, config = {}): Promise<TestProxy> {
  const p = await startTestProxy([upstreamConfig('up', url)], { config });
  cleanups.push(() => p.cleanup());
  return p;
}

/** POSTs raw bytes and returns status and raw response bytes. */
async function postBytes(url: string, body: Buffer | string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body,
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

async function expectHealthy(p: TestProxy): Promise<void> {
  expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
  const upstream = await upstreams.start({ responseMode: 'json' });
  const other = await proxyFor(upstream.url);
  expect((await postJsonRpc(other.mcpUrl('up'), initializeMessage())).status).toBe(200);
}

const INVALID_UTF8 = Buffer.from([
  0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x22, 0x7d,
]);

describe('bad input: request bodies are forwarded untouched', () => {
  const bodies: Array<[string, Buffer]> = [
    ['malformed JSON', Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list"')],
    ['a non-JSON body', Buffer.from('hello, upstream\n\0\x01')],
    ['an empty body', Buffer.alloc(0)],
    [
      'a batch',
      Buffer.from(
        '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]',
      ),
    ],
    [
      'a notification without id',
      Buffer.from('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}'),
    ],
    [
      'duplicate ids',
      Buffer.from('[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","id":5,"method":"ping"}]'),
    ],
    ['invalid UTF-8', INVALID_UTF8],
    [
      'JSON with a BOM and odd whitespace',
      Buffer.from('\uFEFF \n{"jsonrpc" : "2.0" ,"id":1,"method":"ping"}\t'),
    ],
    ['deeply nested JSON', Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`)],
  ];

  it.each(bodies)('%s', async (_name, body) => {
    const upstream = await mirrorUpstream(() => ({
      type: 'application/json',
      body: Buffer.from('{"jsonrpc":"2.0","id":1,"result":{}}'),
    }));
    const p = await proxyFor(upstream.url);
    const res = await postBytes(p.mcpUrl('up'), body, { 'mcp-session-id': 'sid-bad-input' });
    expect(res.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0]!.body.equals(body)).toBe(true);
    await p.flush();
    expect(await p.store.listExchanges({ upstream: 'up' })).toHaveLength(1);
    await expectHealthy(p);
  });
});

describe('bad input: response bodies are forwarded untouched', () => {
  const huge = `data: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { blob: 'y'.repeat(12 * 1024 * 1024) } })}\n\n`;
  const answers: Array<[string, string, Buffer]> = [
    ['invalid UTF-8 JSON', 'application/json', INVALID_UTF8],
    [
      'invalid UTF-8 inside SSE',
      'text/event-stream',
      Buffer.concat([Buffer.from('data: '), INVALID_UTF8, Buffer.from('\n\n')]),
    ],
    ['an SSE event bigger than the tee keeps (12 MiB)', 'text/event-stream', Buffer.from(huge)],
    [
      'SSE without a final blank line',
      'text/event-stream',
      Buffer.from('data: {"jsonrpc":"2.0","id":1,"result":{}}'),
    ],
    ['a JSON body that is not JSON', 'application/json', Buffer.from('<html>oops</html>')],
    [
      'a batch answer with duplicate ids',
      'application/json',
      Buffer.from('[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":1,"result":{}}]'),
    ],
  ];

  it.each(answers)('%s', async (_name, type, body) => {
    const upstream = await mirrorUpstream(() => ({ type, body }));
    const p = await proxyFor(upstream.url);
    const res = await postBytes(
      p.mcpUrl('up'),
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      {
        'mcp-session-id': 'sid-x',
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.equals(body)).toBe(true);
    await p.flush();
    expect(await p.store.listExchanges({ upstream: 'up' })).toHaveLength(1);
    await expectHealthy(p);
  });

  it('an error body with invalid UTF-8 and a huge length is recorded truncated, and forwarded whole', async () => {
    const body = Buffer.concat([INVALID_UTF8, Buffer.alloc(1024 * 1024, 'z')]);
    const upstream = await mirrorUpstream(() => ({ type: 'text/plain', body, status: 400 }));
    const p = await proxyFor(upstream.url);
    const res = await postBytes(p.mcpUrl('up'), '{"jsonrpc":"2.0","id":1,"method":"ping"}', {
      'mcp-session-id': 's',
    });
    expect(res.status).toBe(400);
    expect(res.body.equals(body)).toBe(true);
    await p.flush();
    const [exchange] = await p.store.listExchanges({ upstream: 'up' });
    expect(exchange!.outcome).toBe('http_error');
    expect(exchange!.errorMessage!.length).toBeLessThanOrEqual(4096);
  });
});

describe('bad input: an upstream that breaks HTTP', () => {
  it('a header with a control character, a garbled status line or a body cut short fails that request only', async () => {
    const replies = [
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-bad: a\u0001b\r\ncontent-length: 2\r\n\r\n{}',
      'HTTP/9 what\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"jsonrpc":',
    ];
    let n = 0;
    const server = createNetServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write(replies[n++ % replies.length]!, 'latin1');
        setTimeout(() => socket.destroy(), 20);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const p = await proxyFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
    const outcomes: string[] = [];
    for (let i = 0; i < replies.length; i++) {
      try {
        const res = await postBytes(p.mcpUrl('up'), '{"jsonrpc":"2.0","id":1,"method":"ping"}', {
          'mcp-session-id': 's',
        });
        outcomes.push(`${res.status} ${res.body.toString().slice(0, 300)}`);
      } catch {
        outcomes.push('broken');
      }
    }
    // undici's parser (llhttp) refuses the control character and the garbled status line: each is
    // a 502 naming the upstream; the short body breaks off as it would direct.
    expect(outcomes[0]).toMatch(/^502 .*upstream \\"up\\" is unreachable .*Invalid header value char/);
    expect(outcomes[1]).toMatch(/^502 .*upstream \\"up\\" is unreachable/);
    expect(outcomes[2]).toBe('broken');
    await p.flush();
    const outcomesStored = (await p.store.listExchanges({ upstream: 'up' })).map((e) => e.outcome).sort();
    expect(outcomesStored).toHaveLength(3);
    await expectHealthy(p);
  });
});

describe('bad input: odd header values', () => {
  it('obs-text, long values, tabs and repeated headers reach the upstream as sent', async () => {
    const upstream = await mirrorUpstream(() => ({ type: 'application/json', body: Buffer.from('{}') }));
    const p = await proxyFor(upstream.url);
    const { port } = new URL(p.url);
    const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
    const long = 'v'.repeat(6000);
    const raw = Buffer.concat([
      Buffer.from(
        `POST /mcp/up HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
          `X-Long: ${long}\r\nX-Tabs: a\tb \t c\r\nX-Repeat: one\r\nX-Repeat: two\r\nMcp-Session-Id: sid-odd\r\nX-Latin: caf`,
      ),
      Buffer.from([0xe9]),
      Buffer.from(`\r\nConnection: close\r\n\r\n${body}`),
    ]);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(raw));
      let out = '';
      socket.on('data', (d) => {
        out += d.toString('latin1');
      });
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    const headers = upstream.received[0]!.rawHeaders;
    const values = (name: string) =>
      headers.filter((_, i) => i % 2 === 1 && headers[i - 1]!.toLowerCase() === name);
    expect(values('x-long')).toEqual([long]);
    expect(values('x-tabs')).toEqual(['a\tb \t c']);
    expect(values('x-repeat')).toEqual(['one', 'two']);
    expect(values('x-latin')).toEqual(['caf\u00e9']);
    expect(values('mcp-session-id')).toEqual(['sid-odd']);
    await expectHealthy(p);
  });
});

describe('bad input: bodies over the limit', () => {
  const LIMIT = 64 * 1024;

  it('a declared Content-Length over the limit gets 413 with a JSON-RPC error, before any body is read', async () => {
    const upstream = await mirrorUpstream(() => ({ type: 'application/json', body: Buffer.from('{}') }));
    const p = await proxyFor(upstream.url, { server: { maxBodyBytes: LIMIT } });
    const res = await postBytes(p.mcpUrl('up'), Buffer.alloc(LIMIT + 1, 'a'));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body.toString())).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32005, message: expect.stringMatching(/65536-byte limit.*maxBodyBytes/) },
    });
    expect(upstream.received).toHaveLength(0);
    // Exactly at the limit is fine.
    expect((await postBytes(p.mcpUrl('up'), Buffer.alloc(LIMIT, ' '))).status).toBe(200);
    await expectHealthy(p);
  });

  it('a chunked body with no Content-Length is cut at the limit: 413 while the client is still sending', async () => {
    const upstream = await mirrorUpstream(() => ({ type: 'application/json', body: Buffer.from('{}') }));
    const p = await proxyFor(upstream.url, { server: { maxBodyBytes: LIMIT } });
    const { hostname, port } = new URL(p.url);
    const chunk = Buffer.alloc(16 * 1024, 'b');
    let sent = 0;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({
        hostname,
        port,
        path: '/mcp/up',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', (err) => (answered ? undefined : reject(err)));
      // Up to 64 MiB, one chunk per tick, until the proxy answers.
      const pump = () => {
        if (answered || sent >= 64 * 1024 * 1024) return req.end();
        sent += chunk.length;
        req.write(chunk, () => setImmediate(pump));
      };
      pump();
    });
    expect(status).toBe(413);
    expect(sent).toBeLessThan(8 * 1024 * 1024);
    expect(upstream.received).toHaveLength(0);
    await expectHealthy(p);
  });
});

describe('bad input: config and routes', () => {
  it('an invalid config makes the CLI exit 2 naming the field and the value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-badcfg-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = writeConfig(dir, {
      upstreams: [
        { id: 'ok', url: 'https://a.example/mcp' },
        { id: 'x', url: 'ftp://files.example/mcp' },
      ],
    });
    const run = runCli(['serve', '--config', path]);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('upstreams[1].url');
    expect(run.output()).toContain('ftp://files.example/mcp');
    const badId = writeConfig(
      dir,
      { upstreams: [{ id: 'Not An Id', url: 'https://a.example/mcp' }] },
      'bad-id.json',
    );
    const second = runCli(['serve', '--config', badId]);
    expect(await second.exited).toBe(2);
    expect(second.output()).toMatch(/upstreams\[0\]\.id/);
    expect(second.output()).toContain('Not An Id');
  }, 20_000);

  it('an unknown upstream gets a JSON-RPC error naming it, and nothing is forwarded', async () => {
    const upstream = await mirrorUpstream(() => ({ type: 'application/json', body: Buffer.from('{}') }));
    const p = await proxyFor(upstream.url);
    for (const id of ['jira', 'UP', 'up%2F..', 'http%3A%2F%2F127.0.0.1%3A1%2Fmcp']) {
      const res = await postBytes(`${p.url}/mcp/${id}`, '{"jsonrpc":"2.0","id":3,"method":"ping"}');
      expect(res.status, id).toBe(404);
      const body = JSON.parse(res.body.toString()) as { error: { code: number; message: string } };
      expect(body.error.code).toBe(-32004);
      expect(body.error.message).toContain('unknown upstream');
      expect(body.error.message).toContain('configured: up');
    }
    expect(upstream.received).toHaveLength(0);
  });
});
