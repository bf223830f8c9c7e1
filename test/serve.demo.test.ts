import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../src/analysis/index.js';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { DEMO_UPSTREAM_ID, type RunningServer, startServer } from '../src/server.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { runCli } from './helpers/cli.js';
import { sleep } from './helpers/proxy.js';

let running: RunningServer | null = null;
let dir: string | null = null;
afterEach(async () => {
  await running?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  running = null;
  dir = null;
});

async function startDemo(demoProbe: boolean): Promise<RunningServer> {
  dir = mkdtempSync(join(tmpdir(), 'mcp-probe-demo-'));
  const base = defaultConfig();
  running = await startServer({
    config: {
      ...base,
      server: { ...base.server, port: 0, shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${join(dir, 'demo.db')}` },
    },
    logger: silentLogger,
    demo: true,
    demoProbe,
  });
  return running;
}

describe('serve with no config (the newcomer path)', () => {
  it('proxies the built-in demo upstream and starts a fanout probe of it at once', async () => {
    const server = await startDemo(true);
    expect(server.config.upstreams.map((u) => u.id)).toEqual([DEMO_UPSTREAM_ID]);
    const { sessionId } = await initializeSession(`${server.url}/mcp/${DEMO_UPSTREAM_ID}`);
    const list = await postJsonRpc(`${server.url}/mcp/${DEMO_UPSTREAM_ID}`, toolsListMessage(), {
      sessionId,
    });
    expect(list.status).toBe(200);

    expect(server.demoProbeId).not.toBeNull();
    const run = await server.probes.get(server.demoProbeId!);
    expect(run).toMatchObject({ status: 'running', mode: 'fanout', intervals: [5, 20, 45] });
    const listed = await (await fetch(`${server.url}/api/probes/${server.demoProbeId}`)).json();
    expect(listed).toMatchObject({ id: server.demoProbeId, status: 'running' });
  });

  it('serves both eras on one URL: 2025 sessions and 2026 sessionless requests', async () => {
    const server = await startDemo(false);
    const url = `${server.url}/mcp/${DEMO_UPSTREAM_ID}`;
    const { sessionId } = await initializeSession(url);
    expect(sessionId).toBeTruthy();
    const client = new Client(
      { name: 'demo-v2', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    expect(client.getProtocolEra()).toBe('modern');
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'both eras' } });
    expect(echoed.content).toEqual([{ type: 'text', text: 'both eras' }]);
    await client.close();
    await server.recorder.flush();
    const report = (await (await fetch(`${server.url}/api/report`)).json()) as Report;
    expect(report.upstreams.find((u) => u.id === DEMO_UPSTREAM_ID)?.sessionModel).toBe('both');
  });

  it('starts no probe unless asked (library use, tests)', async () => {
    const server = await startDemo(false);
    expect(server.demoProbeId).toBeNull();
    expect(server.probes.running).toBe(0);
  });
});

describe('serve: the command line', () => {
  it('with MCP_PROBE_LOG_FORMAT=json, writes only JSON lines: the banner is one of them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-probe-demo-'));
    const run = runCli(['serve', '--port', '0', '--db', join(dir, 'demo.db')], {
      MCP_PROBE_LOG_FORMAT: 'json',
      MCP_PROBE_CONFIG: '',
    });
    try {
      const until = Date.now() + 30_000;
      while (!/listening on/.test(run.output()) && Date.now() < until) await sleep(50);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
    const lines = run
      .output()
      .split('\n')
      .filter((l) => l.trim() !== '');
    const entries = lines.map((l) => JSON.parse(l) as Record<string, string>);
    const banner = entries.find((e) => e['msg']?.includes('listening on'));
    const url = /listening on (\S+)/.exec(banner?.['msg'] ?? '')?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(banner).toMatchObject({
      level: 'info',
      'proxy.demo': `${url}/mcp/demo`,
      dashboard: `${url}/`,
      demo: 'true',
    });
    expect(banner?.['demoProbe']).toMatch(new RegExp(`^${url}/api/probes/`));
  }, 30_000);
});
