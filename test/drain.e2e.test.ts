// Drain and bounded shutdown against the real CLI: SIGTERM under closed-loop keep-alive load
// resets no request (refused new connections are fine), and the process exits 0 within the
// grace even when the telemetry collector never answers.
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import { upstreamPool } from './fixtures/upstreams.js';
import { startServe, writeConfig } from './helpers/cli.js';
import { closedLoop } from './helpers/load.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await upstreams.closeAll();
});

async function setup(server: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const upstream = await upstreams.start({ responseMode: 'json' });
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-drain-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = join(dir, 'probe.db');
  const configPath = writeConfig(dir, {
    upstreams: [{ id: 'up', url: upstream.url }],
    server: {
      host: '127.0.0.1',
      port: 0,
      // The node:http front: the one left once the hand-written fast front is gone.
      ...('fastHttp' in defaultConfig().server ? { fastHttp: false } : {}),
      ...server,
    },
    storage: { url: `sqlite:${dbPath}` },
  });
  const serve = await startServe(configPath, { timeoutMs: 30_000, env });
  cleanups.push(() => void serve.child.kill('SIGKILL'));
  return { dbPath, serve, mcp: `${serve.url}/mcp/up` };
}

describe('SIGTERM under load', () => {
  it('50 closed-loop keep-alive clients: no request is reset, every answered request is recorded, exit 0', async () => {
    const { dbPath, serve, mcp } = await setup({ shutdownGraceSeconds: 10 });
    const load = closedLoop(mcp, 50);
    await load.answered(300);
    const signalledAt = performance.now();
    serve.child.kill('SIGTERM');
    const result = await load.done;
    expect(await serve.exited).toBe(0);
    const exitedAfterMs = performance.now() - signalledAt;

    // Refused connections are how a draining server turns new clients away; resets are not.
    expect(Object.keys(result.errors).filter((code) => code !== 'ECONNREFUSED')).toEqual([]);
    expect(Object.keys(result.statuses)).toEqual(['200']);
    // Clients were told: answers after SIGTERM said `Connection: close`.
    expect(result.closeAnswers).toBeGreaterThan(0);
    expect(exitedAfterMs).toBeLessThan(10_000);
    // Everything answered was flushed before the exit.
    const db = new Database(dbPath, { readonly: true });
    try {
      const rows = (db.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n;
      expect(rows).toBe(result.statuses[200]);
    } finally {
      db.close();
    }
  }, 90_000);
});

describe('bounded shutdown', () => {
  it('a collector that accepts and never answers: exit 0 within a 2 s grace (its exporter would wait 10 s)', async () => {
    const sockets = new Set<Socket>();
    const hanging = createNetServer((socket) => void sockets.add(socket));
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => hanging.close(() => r()));
    });
    const { serve, mcp } = await setup(
      { shutdownGraceSeconds: 2 },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TIMEOUT: '10000',
      },
    );
    const load = closedLoop(mcp, 4);
    await load.answered(40);
    await load.stop();
    const signalledAt = performance.now();
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    const exitedAfterMs = performance.now() - signalledAt;
    // The exporter did try: the bound is what cut it short.
    expect(sockets.size).toBeGreaterThan(0);
    // The grace, plus a loaded machine's slack for starting and ending a process.
    expect(exitedAfterMs).toBeLessThan(3500);
    expect(serve.output()).toMatch(/flushing telemetry did not finish within/);
  }, 90_000);
});
