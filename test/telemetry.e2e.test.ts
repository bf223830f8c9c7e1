// The real CLI (`serve`, built-in demo upstream) as a child process: OTLP/HTTP JSON export to a
// receiver on loopback, Prometheus text at /metrics, no secret or raw session id in either,
// and with no OTEL_* set, no connection to the default OTLP ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashSessionId } from '../src/security/hash.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { metricNamesIn, spansIn, startOtlpReceiver } from './helpers/otlpReceiver.js';
import { parsePrometheusText } from './helpers/prometheusText.js';

const BEARER_SECRET = 'sk-live-PLANTEDbearerSECRET1234567890abcdef';
const QUERY_SECRET = 'PLANTEDquerySECRET0987654321zyxw';

interface Cli {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `serve --port 0` with the built-in demo upstream; env has no OTEL_* except `otel`. */
async function startCli(otel: Record<string, string>): Promise<Cli> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-otel-'));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_')) env[k] = v;
  Object.assign(env, otel);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0', '--db', join(dir, 'probe.db')],
    { cwd: join(import.meta.dirname, '..'), env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 30 s; stderr:\n${err}`)), 30_000);
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}; stderr:\n${err}`)));
  });
  const exited = once(child, 'exit');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(stop);
  return { url, child, stderr: () => err, stop };
}

/** Agent traffic with planted secrets: initialize, tools/call, tools/list. Returns the raw session id. */
async function traffic(mcpUrl: string): Promise<string> {
  const auth = { authorization: `Bearer ${BEARER_SECRET}` };
  const url = `${mcpUrl}?api_key=${QUERY_SECRET}`;
  const { sessionId } = await initializeSession(url, { headers: auth });
  expect(sessionId).toBeTruthy();
  const call = await postJsonRpc(
    url,
    {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: BEARER_SECRET } },
    },
    { sessionId, headers: auth },
  );
  expect(call.status).toBe(200);
  expect((await postJsonRpc(url, toolsListMessage(3), { sessionId, headers: auth })).status).toBe(200);
  return sessionId!;
}

function expectNoSecrets(text: string, rawSessionId: string): void {
  expect(text).not.toContain(BEARER_SECRET);
  expect(text).not.toContain(QUERY_SECRET);
  expect(text).not.toContain(rawSessionId);
}

describe('serve with OTEL_EXPORTER_OTLP_ENDPOINT (http/json)', () => {
  it('exports the spans and metrics to a real OTLP receiver and serves /metrics as Prometheus text', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const cli = await startCli({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    });
    const rawSessionId = await traffic(`${cli.url}/mcp/demo`);

    const metrics = await fetch(`${cli.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    const prom = parsePrometheusText(text);
    expect(prom.types.get('mcp_client_operation_duration')).toBe('histogram');
    expect(prom.types.get('mcpprobe_session_init_duration')).toBe('histogram');
    expect(prom.types.get('mcpprobe_session_idle_gap')).toBe('histogram');
    const buckets = prom.samples.filter(
      (s) =>
        s.name === 'mcp_client_operation_duration_bucket' && s.labels['mcp_method_name'] === 'tools/call',
    );
    expect(buckets.map((b) => b.labels['le'])).toEqual([
      '0.01',
      '0.02',
      '0.05',
      '0.1',
      '0.2',
      '0.5',
      '1',
      '2',
      '5',
      '10',
      '30',
      '60',
      '120',
      '300',
      '+Inf',
    ]);
    expect(buckets.at(-1)?.value).toBe(1);
    expect(buckets[0]?.labels).toMatchObject({
      mcpprobe_upstream: 'demo',
      mcpprobe_source: 'proxy',
      gen_ai_tool_name: 'echo',
    });
    // serve with no config also probes the demo upstream (source "probe"); the client's session is the proxy's one.
    expect(
      prom.samples.find(
        (s) => s.name === 'mcpprobe_sessions_active' && s.labels['mcpprobe_source'] === 'proxy',
      )?.value,
    ).toBe(1);
    expect(prom.samples.some((s) => s.name.startsWith('mcpprobe_recorder_dropped'))).toBe(true);
    expect(prom.samples.some((s) => s.name.startsWith('mcpprobe_tracker_sessions'))).toBe(true);
    expectNoSecrets(text, rawSessionId);

    // Shutdown flushes: everything is at the receiver once the process has exited.
    await cli.stop();
    const spans = spansIn(receiver.requests);
    const names = spans.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['initialize', 'notifications/initialized', 'tools/call echo', 'tools/list']),
    );
    const call = spans.find((s) => s.name === 'tools/call echo')!;
    expect(call.resource['service.name']).toBe('mcp-session-probe');
    expect(call.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'echo',
      'mcp.session.id': hashSessionId(rawSessionId),
      'mcpprobe.upstream': 'demo',
      'mcpprobe.outcome': 'ok',
    });
    expect(receiver.requests.every((r) => r.contentType.includes('application/json'))).toBe(true);
    expect([...metricNamesIn(receiver.requests)]).toEqual(
      expect.arrayContaining(['mcp.client.operation.duration', 'mcpprobe.session.init.duration']),
    );
    for (const r of receiver.requests) expectNoSecrets(r.text, rawSessionId);
  });
});

/** Listens on host:port, counting connections; null when the port is taken by something else. */
async function countConnections(
  port: number,
  host: string,
): Promise<{ count: () => number; server: Server } | null> {
  let n = 0;
  const server = createServer((socket) => {
    n++;
    socket.destroy();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
  } catch {
    return null;
  }
  return { count: () => n, server };
}

describe('serve with no OTEL_* set', () => {
  it('connects to neither OTLP default port (4317, 4318) and starts no Prometheus server of its own', async (ctx) => {
    const listeners = [];
    for (const port of [4317, 4318]) {
      for (const host of ['127.0.0.1', '::1']) {
        const l = await countConnections(port, host);
        if (l === null && host === '127.0.0.1')
          ctx.skip(`port ${port} on ${host} is in use by another process`);
        if (l) {
          listeners.push(l);
          cleanups.push(() => new Promise<void>((r) => l.server.close(() => r())));
        }
      }
    }
    const cli = await startCli({});
    await traffic(`${cli.url}/mcp/demo`);
    expect((await fetch(`${cli.url}/metrics`)).status).toBe(200);
    // The Prometheus exporter's own server (port 9464) must not have started.
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(9464, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    await cli.stop();
    expect(listeners.map((l) => l.count())).toEqual(listeners.map(() => 0));
  }, 60_000);
});
