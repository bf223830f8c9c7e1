// PostgreSQL lost while serving: the proxy keeps forwarding, observations wait in memory up to the
// recorder's bound and are written when the server is back, each once; beyond the bound they are
// counted and logged. Uses its own PostgreSQL server (it is stopped mid-test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { startDemoUpstream } from '../src/demo/upstream.js';
import { createLogger } from '../src/log.js';
import { type RunningServer, startServer } from '../src/server.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { type PostgresServer, startPostgres } from './helpers/postgres.js';

const available = inject('postgresUrl') !== null;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function setup(maxQueue: number) {
  const pg: PostgresServer = await startPostgres();
  cleanups.push(() => pg.destroy());
  const upstream = await startDemoUpstream({ responseMode: 'json' });
  cleanups.push(() => upstream.close());
  const logs: string[] = [];
  const base = defaultConfig();
  const config: Config = {
    ...base,
    upstreams: [
      {
        id: 'demo',
        name: 'demo',
        url: upstream.url,
        transport: 'streamable-http',
        headers: {},
        timeoutSeconds: 10,
      },
    ],
    server: { ...base.server, port: 0, host: '127.0.0.1', shutdownGraceSeconds: 1 },
    storage: { url: await pg.createDatabase('faults') },
  };
  const running: RunningServer = await startServer({
    config,
    logger: createLogger({ level: 'info', write: (line) => logs.push(line) }),
    recorder: { flushIntervalMs: 20, maxBackoffMs: 200, maxQueue },
  });
  cleanups.push(() => running.close());
  const mcp = `${running.url}/mcp/demo`;
  const health = async () => (await (await fetch(`${running.url}/healthz`)).json()) as { status: string };
  return { pg, running, mcp, logs, health };
}

/** Sends `n` tools/list calls on the session, each answered 200. */
async function calls(mcp: string, sessionId: string, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const res = await postJsonRpc(mcp, toolsListMessage(i), { sessionId });
    expect(res.status).toBe(200);
  }
}

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!available)('PostgreSQL lost while serving', () => {
  it('restarted under load: forwarding goes on, /healthz says degraded, every observation is written once when it is back', async () => {
    const { pg, running, mcp, health } = await setup(100_000);
    const { sessionId } = await initializeSession(mcp);
    await calls(mcp, sessionId!, 100, 50);
    // Stopped while four clients keep calling: forwarding never waits for the store.
    await Promise.all([pg.stop(), ...[0, 1, 2, 3].map((k) => calls(mcp, sessionId!, 200 + k * 25, 25))]);
    await until(async () => (await health()).status === 'degraded');
    await calls(mcp, sessionId!, 300, 50);
    await pg.start();
    await calls(mcp, sessionId!, 400, 50);
    await until(async () => running.recorder.stats().queued === 0 && !running.recorder.stats().failing);
    expect((await health()).status).toBe('ok');
    const rows = await running.store.listExchanges({ upstream: 'demo', limit: 10_000 });
    const ids = rows.filter((r) => r.rpcMethod === 'tools/list').map((r) => Number(r.rpcId));
    // initialize + notifications/initialized + 250 calls, each exactly once.
    expect(rows).toHaveLength(252);
    expect(new Set(ids).size).toBe(250);
    expect(running.recorder.stats()).toMatchObject({ dropped: 0 });
    expect(running.recorder.stats().failures).toBeGreaterThan(0);
    const [session] = await running.store.listSessions({ upstream: 'demo' });
    expect(session).toMatchObject({ exchanges: 252 });
  }, 60_000);

  it('beyond the bound, the oldest observations are dropped, counted and logged', async () => {
    const { pg, running, mcp, logs } = await setup(40);
    const { sessionId } = await initializeSession(mcp);
    await until(async () => running.recorder.stats().queued === 0);
    await pg.stop();
    await calls(mcp, sessionId!, 100, 100);
    await pg.start();
    await until(async () => running.recorder.stats().queued === 0 && !running.recorder.stats().failing);
    const { dropped } = running.recorder.stats();
    expect(dropped).toBeGreaterThan(0);
    const rows = await running.store.listExchanges({ upstream: 'demo', limit: 10_000 });
    // What was kept is the newest, written once: 100 calls (and a session snapshot each, coalesced)
    // through a queue of 40.
    const ids = rows.filter((r) => r.rpcMethod === 'tools/list').map((r) => Number(r.rpcId));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.at(-1)).toBe(199);
    expect(ids.length + 2).toBeLessThanOrEqual(40 + 2);
    expect(logs.join('\n')).toMatch(/store recovered.*dropped/s);
  }, 60_000);
});

describe('PostgreSQL unreachable at start', () => {
  it('serve exits 2 naming the URL, its password hidden', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-pgdown-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const path = writeConfig(dir, {
      upstreams: [{ id: 'a', url: 'http://127.0.0.1:9/mcp' }],
      // Port 1: nothing listens there (test/helpers/proxy.ts REFUSED_PORT).
      storage: { url: 'postgres://probe:hunter2@127.0.0.1:1/probe?sslpassword=hunter3' },
    });
    const run = runCli(['serve', '--config', path, '--port', '0']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(
      'storage: cannot reach PostgreSQL at postgres://probe:***@127.0.0.1:1/probe',
    );
    expect(run.output()).not.toMatch(/hunter[23]/);
  }, 30_000);
});
