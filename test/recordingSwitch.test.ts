// `startServer({ recording: RecordingSwitch })`: recording turned off and on while the proxy runs
// (the benchmark's `--roles swap`). Forwarding never changes; only what reaches the store does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { type RecordingSwitch, startServer } from '../src/server.js';
import { initializeSession, postJsonRpc, toolsListMessage, upstreamPool } from './fixtures/upstreams.js';
import { upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await upstreams.closeAll();
});

it('records only while the switch is on; answers are the same either way', async () => {
  const upstream = await upstreams.start({ responseMode: 'json' });
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-switch-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const base = defaultConfig();
  const recording: RecordingSwitch = { on: true };
  const running = await startServer({
    config: {
      ...base,
      upstreams: [upstreamConfig('up', upstream.url)],
      server: { ...base.server, port: 0, host: '127.0.0.1', shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${join(dir, 'probe.db')}` },
    },
    logger: silentLogger,
    recording,
  });
  cleanups.push(() => running.close());
  const mcp = `${running.url}/mcp/up`;
  const { sessionId } = await initializeSession(mcp);
  const call = async (id: number) => {
    const res = await postJsonRpc(mcp, toolsListMessage(id), { sessionId });
    expect(res.status).toBe(200);
    return res;
  };

  await call(1);
  recording.on = false;
  await call(2);
  await call(3);
  recording.on = true;
  await call(4);
  await running.recorder.flush();

  const ids = (await running.store.listExchanges({ upstream: 'up' })).map(
    (e) => e.rpcMethod === 'tools/list' && e.rpcId,
  );
  expect(ids.filter(Boolean)).toEqual(['1', '4']);
  // The session row counts every exchange the tracker saw, recorded or not.
  const [session] = await running.store.listSessions({ upstream: 'up' });
  expect(session?.exchanges).toBeGreaterThanOrEqual(5);
});
