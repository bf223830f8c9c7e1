import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { DEMO_UPSTREAM_ID, type RunningServer, startServer } from '../src/server.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';

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

  it('starts no probe unless asked (library use, tests)', async () => {
    const server = await startDemo(false);
    expect(server.demoProbeId).toBeNull();
    expect(server.probes.running).toBe(0);
  });
});
