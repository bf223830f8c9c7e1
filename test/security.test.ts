// Security: planted secrets never reach the database file, the logs, the API
// output, /metrics, the dashboard or exported spans; session ids appear only hashed; the
// proxy is never an open proxy and probes reach only configured upstreams.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { createLogger } from '../src/log.js';
import { hashSessionId } from '../src/security/hash.js';
import { type RunningServer, startServer } from '../src/server.js';
import { setupTelemetry } from '../src/telemetry/setup.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { sleep, upstreamConfig } from './helpers/proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const secret = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

/** Every secret the test plants, by where it was planted. */
function plantSecrets() {
  return {
    authorization: secret('authz'),
    proxyAuthorization: secret('proxyauthz'),
    cookie: secret('cookie'),
    setCookie: secret('setcookie'),
    apiKey: secret('apikey'),
    customToken: secret('customtok'),
    urlQuery: secret('urlquery'),
    urlPassword: secret('urlpass'),
    clientQuery: secret('clientq'),
    errorBearer: secret('errbearer'),
    errorKey: secret('errkey'),
    sessionId: secret('sid'),
  };
}
type Secrets = ReturnType<typeof plantSecrets>;

/**
 * An upstream that issues `secrets.sessionId`, sets a secret cookie, forgets the session on
 * the third request (404), and answers `tools/call` with an error body full of secrets.
 */
async function leakyUpstream(secrets: Secrets) {
  let requests = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const body = Buffer.concat(chunks).toString();
      const id = /"id":(\d+)/.exec(body)?.[1] ?? 'null';
      if (body.includes('"initialize"')) {
        res.writeHead(200, {
          'content-type': 'application/json',
          'mcp-session-id': secrets.sessionId,
          'set-cookie': `session=${secrets.setCookie}; HttpOnly`,
        });
        res.end(
          `{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"leaky","version":"1"}}}`,
        );
      } else if (body.includes('tools/call')) {
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end(
          `Unauthorized: Authorization: Bearer ${secrets.errorBearer} rejected; api_key=${secrets.errorKey}`,
        );
      } else if (requests >= 5) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          `{"jsonrpc":"2.0","id":${id},"error":{"code":-32001,"message":"Session ${secrets.sessionId} not found; token=${secrets.errorKey}"}}`,
        );
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"jsonrpc":"2.0","id":${id},"result":{"tools":[]}}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, requests: () => requests };
}

describe('security: planted secrets appear nowhere', () => {
  it('not in the database file, the logs, the API, /metrics, the dashboard or exported spans', async () => {
    const secrets = plantSecrets();
    const upstream = await leakyUpstream(secrets);
    const unreachablePort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-sec-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dbPath = join(dir, 'probe.db');
    const logLines: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => logLines.push(l) });
    const spanExporter = new InMemorySpanExporter();
    const upstreamUrl = `http://user:${secrets.urlPassword}@127.0.0.1:${upstream.port}/mcp?api_key=${secrets.urlQuery}`;
    const deadUrl = `http://127.0.0.1:${unreachablePort}/mcp?token=${secrets.urlQuery}`;
    const upstreams = [upstreamConfig('up', upstreamUrl), upstreamConfig('dead', deadUrl)];
    const base = defaultConfig();
    const config: Config = {
      ...base,
      upstreams,
      server: { ...base.server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${dbPath}` },
    };
    const telemetry = setupTelemetry({
      env: {},
      spanProcessors: [new SimpleSpanProcessor(spanExporter)],
      upstreams,
    });
    const running: RunningServer = await startServer({ config, logger, telemetry });
    let closed = false;
    cleanups.push(() => (closed ? undefined : running.close()));

    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${secrets.authorization}`,
      'proxy-authorization': `Basic ${secrets.proxyAuthorization}`,
      cookie: `sid=${secrets.cookie}`,
      'x-api-key': secrets.apiKey,
      'x-custom-token': secrets.customToken,
    };
    const post = (path: string, body: object, extra: Record<string, string> = {}) =>
      fetch(`${running.url}${path}`, {
        method: 'POST',
        headers: { ...headers, ...extra },
        body: JSON.stringify(body),
      });
    const rpc = (id: number, method: string, params: object = {}) => ({ jsonrpc: '2.0', id, method, params });

    const q = `?access_token=${secrets.clientQuery}`;
    expect(
      (
        await post(
          `/mcp/up${q}`,
          rpc(1, 'initialize', {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'c', version: '1' },
          }),
        )
      ).status,
    ).toBe(200);
    const withSession = { 'mcp-session-id': secrets.sessionId };
    expect(
      (await post(`/mcp/up${q}`, { jsonrpc: '2.0', method: 'notifications/initialized' }, withSession))
        .status,
    ).toBe(200);
    expect((await post(`/mcp/up${q}`, rpc(2, 'tools/list'), withSession)).status).toBe(200);
    expect(
      (await post(`/mcp/up${q}`, rpc(3, 'tools/call', { name: 'x', arguments: {} }), withSession)).status,
    ).toBe(401);
    expect((await post(`/mcp/up${q}`, rpc(4, 'tools/list'), withSession)).status).toBe(404); // expired
    expect((await post(`/mcp/dead${q}`, rpc(5, 'initialize'))).status).toBe(502);
    await running.recorder.flush();

    // Everything a reader can get from the running server.
    const apiPaths = [
      '/api/upstreams',
      '/api/sessions',
      '/api/expirations',
      '/api/report',
      '/api/upstreams/up/lifetime',
      '/metrics',
      '/',
      '/upstreams/up',
      '/healthz',
    ];
    const apiOutput: string[] = [];
    for (const path of apiPaths) {
      const res = await fetch(`${running.url}${path}`);
      apiOutput.push(`${path} ${res.status} ${await res.text()}`);
    }
    const expirations = await (await fetch(`${running.url}/api/expirations`)).json();
    expect(expirations).toEqual([
      expect.objectContaining({ sessionHash: hashSessionId(secrets.sessionId), outcome: 'session_expired' }),
    ]);

    await running.close();
    closed = true;
    const spans = JSON.stringify(
      spanExporter
        .getFinishedSpans()
        .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
    );
    const db = Buffer.concat(
      [dbPath, `${dbPath}-wal`, `${dbPath}-shm`].filter(existsSync).map((f) => readFileSync(f)),
    );

    const places: Record<string, string | Buffer> = {
      'database file': db,
      logs: logLines.join('\n'),
      'API, /metrics and dashboard output': apiOutput.join('\n'),
      'exported spans': spans,
    };
    expect(db.length).toBeGreaterThan(0);
    expect(spanExporter.getFinishedSpans().length).toBeGreaterThan(0);
    for (const [place, content] of Object.entries(places)) {
      for (const [name, value] of Object.entries(secrets)) {
        expect(content.includes(value), `${name} leaked into the ${place}`).toBe(false);
      }
    }
    // The session id is there, hashed: the test would be vacuous otherwise.
    expect(db.includes(hashSessionId(secrets.sessionId))).toBe(true);
  });

  it('the CLI output never shows secrets from the config (upstream URLs, headers, admin token)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-seccli-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const token = secret('tok');
    const urlSecret = secret('urlsecret');
    const adminToken = secret('admintok');
    const port = await freePort();
    const path = writeConfig(dir, {
      upstreams: [
        {
          id: 'up',
          url: `http://127.0.0.1:${port}/mcp?key=${urlSecret}`,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${ENV} interpolation
          headers: { Authorization: 'Bearer ${PLANTED_TOKEN}' },
        },
      ],
      server: { host: '127.0.0.1', port: 0 },
      storage: { url: `sqlite:${join(dir, 'p.db')}` },
      admin: { token: adminToken },
    });
    const run = runCli(['serve', '--config', path], { PLANTED_TOKEN: token, MCP_PROBE_LOG_LEVEL: 'debug' });
    cleanups.push(() => void run.child.kill('SIGKILL'));
    const until = Date.now() + 15_000;
    while (!/listening on/.test(run.output()) && Date.now() < until) await sleep(50);
    const url = /listening on (\S+)/.exec(run.output())?.[1];
    expect(url).toBeDefined();
    // A request through the proxy to the unreachable upstream logs and answers an error.
    await fetch(`${url}/mcp/up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    run.child.kill('SIGTERM');
    await run.exited;
    for (const value of [token, urlSecret, adminToken]) expect(run.output()).not.toContain(value);
  }, 30_000);
});

describe('security: the admin token on the real server', () => {
  it('guards the API, /metrics and the dashboard, leaves /healthz and the proxy routes to agents', async () => {
    const configured = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
      });
    });
    await new Promise<void>((r) => configured.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => configured.close(() => r())));
    const token = secret('admin');
    const base = defaultConfig();
    const running = await startServer({
      config: {
        ...base,
        upstreams: [
          upstreamConfig('up', `http://127.0.0.1:${(configured.address() as AddressInfo).port}/mcp`),
        ],
        server: { ...base.server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
        storage: { url: 'sqlite::memory:' },
        admin: { token },
      },
      logger: createLogger({ level: 'silent' }),
      telemetry: setupTelemetry({ env: {} }),
    });
    cleanups.push(() => running.close());
    for (const path of ['/api/sessions', '/api/report', '/metrics']) {
      expect((await fetch(`${running.url}${path}`)).status, path).toBe(401);
      expect(
        (await fetch(`${running.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status,
        path,
      ).toBe(200);
    }
    const page = await fetch(`${running.url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toMatch(/^\/login/);
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    const proxied = await fetch(`${running.url}/mcp/up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer the-agents-own-upstream-token' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(proxied.status).toBe(200);
  });
});

describe('security: never an open proxy', () => {
  /** A loopback server no request may ever reach: it stands for any address outside the config. */
  async function victim() {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end('reached');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return { port: (server.address() as AddressInfo).port, hits: () => hits };
  }

  async function raw(port: number, request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      let out = '';
      socket.on('data', (d) => {
        out += d.toString();
        if (out.includes('\r\n\r\n')) socket.end();
      });
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
      setTimeout(() => socket.destroy(), 2000);
    });
  }

  it('absolute-form targets, CONNECT, Host spoofing, encoded URLs and path tricks never reach another address', async () => {
    const target = await victim();
    const configured = await victim();
    const running = await startServer({
      config: {
        ...defaultConfig(),
        upstreams: [upstreamConfig('up', `http://127.0.0.1:${configured.port}/mcp`)],
        server: { ...defaultConfig().server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
        storage: { url: 'sqlite::memory:' },
      },
      logger: createLogger({ level: 'silent' }),
      telemetry: setupTelemetry({ env: {} }),
    });
    cleanups.push(() => running.close());
    const port = running.port;
    const elsewhere = `127.0.0.1:${target.port}`;
    const attempts = [
      `GET http://${elsewhere}/ HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`,
      `POST http://${elsewhere}/mcp HTTP/1.1\r\nHost: ${elsewhere}\r\nContent-Length: 2\r\n\r\n{}`,
      `CONNECT ${elsewhere} HTTP/1.1\r\nHost: ${elsewhere}\r\n\r\n`,
      `POST /mcp/http%3A%2F%2F${encodeURIComponent(elsewhere)}%2Fmcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}`,
      `POST /mcp/..%2F..%2F${target.port} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}`,
      `GET /sse/${encodeURIComponent(`http://${elsewhere}/sse`)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    ];
    for (const request of attempts) await raw(port, request);
    expect(target.hits()).toBe(0);
    expect(configured.hits()).toBe(0);
    // Host spoofing on a real route still goes to the configured upstream only.
    await raw(
      port,
      `POST /mcp/up HTTP/1.1\r\nHost: ${elsewhere}\r\nX-Forwarded-Host: ${elsewhere}\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(target.hits()).toBe(0);
    expect(configured.hits()).toBe(1);
  });

  it('probes reach only configured upstreams: an API request naming a URL is refused', async () => {
    const target = await victim();
    const configured = await victim();
    const running = await startServer({
      config: {
        ...defaultConfig(),
        upstreams: [upstreamConfig('up', `http://127.0.0.1:${configured.port}/mcp`)],
        server: { ...defaultConfig().server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
        storage: { url: 'sqlite::memory:' },
      },
      logger: createLogger({ level: 'silent' }),
      telemetry: setupTelemetry({ env: {} }),
    });
    cleanups.push(() => running.close());
    const url = `http://127.0.0.1:${target.port}/mcp`;
    for (const body of [
      { upstream: url },
      { upstreams: ['up', url] },
      { upstream: `127.0.0.1:${target.port}` },
    ]) {
      const res = await fetch(`${running.url}/api/probes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, intervals: [0.1] }),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/upstream/i);
    }
    await sleep(200);
    expect(target.hits()).toBe(0);
    expect(configured.hits()).toBe(0);
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
