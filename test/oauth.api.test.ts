// OAuth in `serve`: a probe started over the admin API (as a scheduled one is) uses the stored
// login and refreshes it when its 2 s tokens run out; agents' own tokens go through the proxy.
// No token appears in any /api answer, /metrics, the dashboard, the logs, the exported spans or
// the database (WAL included).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { loginCommand } from '../src/commands/auth.js';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { createLogger } from '../src/log.js';
import type { ProbeResult } from '../src/probe/result.js';
import { type RunningServer, startServer } from '../src/server.js';
import { setupTelemetry } from '../src/telemetry/setup.js';
import { type OAuthFixture, startOAuthFixture } from './fixtures/oauthServer.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { sleep, upstreamConfig } from './helpers/proxy.js';

let fixture: OAuthFixture | null = null;
let running: RunningServer | null = null;
const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-oauth-api-'));
const saved = { home: process.env.MCP_PROBE_HOME, browser: process.env.BROWSER };
process.env.MCP_PROBE_HOME = join(dir, 'home');
process.env.BROWSER = 'curl -sfL -o /dev/null';
afterEach(async () => {
  await running?.close();
  await fixture?.close();
  process.env.MCP_PROBE_HOME = saved.home;
  process.env.BROWSER = saved.browser;
  rmSync(dir, { recursive: true, force: true });
});

const quiet = { stdout: () => {}, stderr: () => {} };

describe('OAuth in serve: API probes use the stored login', () => {
  it('refreshes mid-probe and leaks no token into /api, /metrics, the dashboard, logs, spans or the store', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 2 });
    // The stored login is found by the upstream's URL, whichever way it was made.
    expect(await loginCommand(['--url', fixture.url, '--timeout', '20'], quiet)).toBe(0);

    const dbPath = join(dir, 'probe.db');
    const logLines: string[] = [];
    const spans = new InMemorySpanExporter();
    const upstreams = [upstreamConfig('linearish', fixture.url, { auth: { type: 'oauth' } })];
    const base = defaultConfig();
    const config: Config = {
      ...base,
      upstreams,
      server: { ...base.server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${dbPath}` },
    };
    running = await startServer({
      config,
      // As `serve` runs: the store in its own process, credential observations sent to it.
      storeProcess: true,
      logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
      telemetry: setupTelemetry({ env: {}, spanProcessors: [new SimpleSpanProcessor(spans)], upstreams }),
    });
    const url = running.url;

    // An agent with its own token through the proxy, beside the probe.
    const agentToken = fixture.mintAccessToken();
    const headers = { authorization: `Bearer ${agentToken}` };
    const { sessionId } = await initializeSession(`${url}/mcp/linearish`, { headers });
    expect(
      (await postJsonRpc(`${url}/mcp/linearish`, toolsListMessage(2), { sessionId, headers })).status,
    ).toBe(200);

    const started = await fetch(`${url}/api/probes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ upstream: 'linearish', mode: 'fanout', intervals: [1, 3] }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    let result: ProbeResult | null = null;
    for (let i = 0; i < 300; i++) {
      result = (await (await fetch(`${url}/api/probes/${id}`)).json()) as ProbeResult;
      if (result.status !== 'running') break;
      await sleep(100);
    }
    const r = result!.results[0]!;
    expect(r.fatalError).toBeNull();
    expect(r.checkpoints.map((c) => c.success)).toEqual([true, true]);
    expect(r.credential?.refreshes).toBeGreaterThanOrEqual(1);
    await running.recorder.flush();
    await sleep(50);

    const paths = [
      `/api/probes/${id}`,
      '/api/probes',
      '/api/upstreams',
      '/api/sessions?upstream=linearish',
      '/api/expirations?upstream=linearish',
      '/api/upstreams/linearish/lifetime',
      '/api/report',
      '/metrics',
      '/',
      '/upstreams/linearish',
    ];
    const answers = await Promise.all(paths.map((p) => fetch(`${url}${p}`).then((x) => x.text())));
    const lifetime = JSON.parse(answers[5]!);
    expect(lifetime.credential.announcedSeconds).toBe(2);
    expect(lifetime.credential.observations).toBe(1); // the agent's token
    await running.close();
    running = null;
    const db = [dbPath, `${dbPath}-wal`].filter(existsSync).map((f) => readFileSync(f).toString('latin1'));
    const places = {
      api: answers.join('\n'),
      logs: logLines.join('\n'),
      spans: JSON.stringify(
        spans.getFinishedSpans().map((s) => ({ n: s.name, a: s.attributes, e: s.events })),
      ),
      db: db.join('\n'),
    };
    expect(spans.getFinishedSpans().length).toBeGreaterThan(0);
    expect(fixture.issued).toContain(agentToken);
    for (const [place, text] of Object.entries(places))
      for (const token of fixture.issued) expect(text.includes(token), `a token in ${place}`).toBe(false);
  }, 60_000);
});
