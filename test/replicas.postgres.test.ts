// Several replicas of the proxy sharing one PostgreSQL store, against a real upstream whose sessions
// expire when idle (mcp-proxy, --sessionIdleTimeout 2000): a session moving between replicas keeps
// its true history, every replica answers the same, schedules run once across replicas, and a probe
// started on one replica is seen and cancelled from another.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultConfig, loadConfig } from '../src/config/load.js';
import type { Config, UpstreamConfig } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { type RunningServer, startServer } from '../src/server.js';
import { type McpProxySweeper, startMcpProxySweeper } from './fixtures/mcpProxySweeper.js';
import { findFreePort, initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { testDatabase } from './helpers/postgres.js';

const serverUrl = inject('postgresUrl');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function replica(dbUrl: string, upstreams: UpstreamConfig[]): Promise<RunningServer> {
  const base = defaultConfig();
  const config: Config = {
    ...base,
    upstreams,
    server: { ...base.server, port: 0, host: '127.0.0.1', shutdownGraceSeconds: 1 },
    storage: { url: dbUrl },
  };
  const running = await startServer({ config, logger: silentLogger, recorder: { flushIntervalMs: 20 } });
  let closed = false;
  const close = running.close;
  running.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  cleanups.push(() => running.close());
  return running;
}

const upstreamConfig = (url: string, extra: Partial<UpstreamConfig> = {}): UpstreamConfig => ({
  id: 'everything',
  name: 'everything',
  url,
  transport: 'streamable-http',
  headers: {},
  timeoutSeconds: 30,
  ...extra,
});

describe.skipIf(!serverUrl)('replicas sharing one PostgreSQL store', () => {
  let upstream: McpProxySweeper;
  beforeAll(async () => {
    upstream = await startMcpProxySweeper({ idleTimeoutMs: 2000 });
    return () => upstream.close();
  }, 30_000);

  it('a session opened on replica A and continued on B after A stops records its true idle gap on B; both replicas then answer the same', async () => {
    const db = await testDatabase(serverUrl, 'replicas');
    const a = await replica(db, [upstreamConfig(upstream.url)]);
    const b = await replica(db, [upstreamConfig(upstream.url)]);
    const viaA = `${a.url}/mcp/everything`;
    const viaB = `${b.url}/mcp/everything`;

    const { sessionId } = await initializeSession(viaA);
    expect(sessionId).toBeTruthy();
    const lastOnA = Date.now();
    expect((await postJsonRpc(viaA, toolsListMessage(2), { sessionId })).status).toBe(200);
    // A goes away (a failover): its recorder writes what it holds before it stops.
    await a.close();
    await sleep(1000);
    const moved = await postJsonRpc(viaB, toolsListMessage(3), { sessionId });
    expect(moved.status).toBe(200);
    const idleMs = Date.now() - lastOnA;
    await b.recorder.flush();

    const exchanges = await b.store.listExchanges({ upstream: 'everything', source: 'proxy' });
    const onB = exchanges.at(-1)!;
    expect(onB.rpcId).toBe('3');
    // The gap since A's last exchange, not "unknown" (a first sight) and not 0.
    expect(onB.idleGapMs).not.toBeNull();
    expect(onB.idleGapMs!).toBeGreaterThanOrEqual(950);
    expect(onB.idleGapMs!).toBeLessThanOrEqual(idleMs);
    // A saw the session open, so B knows its age and position too.
    expect(onB.exchangesBefore).toBe(3); // initialize, notifications/initialized, tools/list on A
    expect(onB.sessionAgeMs!).toBeGreaterThan(onB.idleGapMs!);
    const [session] = await b.store.listSessions({ upstream: 'everything' });
    expect(session).toMatchObject({ adopted: false, exchanges: 4 });
    expect(session!.openedAt).toBe(exchanges[0]!.startedAt);

    // Idle past the upstream's timeout (2 s, swept every 2 s): the next request on B is an expiry.
    await sleep(4300);
    const expired = await postJsonRpc(viaB, toolsListMessage(4), { sessionId });
    expect(expired.status).toBe(404);
    await b.recorder.flush();
    const [expiry] = await b.store.listExpirations({ upstream: 'everything' });
    expect(expiry).toMatchObject({ outcome: 'session_expired', exchangesBefore: 4 });
    expect(expiry!.idleGapMs!).toBeGreaterThanOrEqual(4000);

    // A comes back (or any other replica starts): every API route answers as B does.
    const a2 = await replica(db, [upstreamConfig(upstream.url)]);
    for (const route of [
      '/api/report',
      '/api/upstreams/everything/lifetime',
      '/api/sessions',
      '/api/expirations',
      '/api/upstreams',
    ]) {
      const [fromB, fromA] = await Promise.all(
        [b, a2].map(async (r) => {
          const res = await fetch(`${r.url}${route}`);
          expect(res.status, route).toBe(200);
          // The moment each answered is its own.
          const { generatedAt: _at, ...body } = (await res.json()) as Record<string, unknown>;
          return body;
        }),
      );
      expect(fromA, route).toEqual(fromB);
    }
    const report = (await (await fetch(`${a2.url}/api/report`)).json()) as {
      upstreams: Array<{
        id: string;
        lifetime: { lowerBoundSeconds: number | null; upperBoundSeconds: number | null };
      }>;
    };
    const lifetime = report.upstreams.find((u) => u.id === 'everything')!.lifetime;
    // The survival at ~1 s (on B, after the move) and the expiry at ~4.3 s, from both replicas.
    expect(lifetime.lowerBoundSeconds).toBeGreaterThanOrEqual(0.95);
    expect(lifetime.upperBoundSeconds).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('a scheduled probe runs once per period with two replicas up', async () => {
    const db = await testDatabase(serverUrl, 'schedule');
    const scheduled = upstreamConfig(upstream.url, {
      probe: { everyMs: 1000, mode: 'fanout', intervals: [0.1] },
    });
    const started = Date.now();
    await Promise.all([replica(db, [scheduled]), replica(db, [scheduled])]);
    await sleep(4500);
    const elapsed = Date.now() - started;
    const [first] = await Promise.all([replica(db, [])]);
    const runs = (await first.store.listProbeRuns({ upstream: 'everything', limit: 100 })).sort(
      (x, y) => x.startedAt - y.startedAt,
    );
    // Each replica's timer fired about four times: eight runs if each ran its own.
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.length).toBeLessThanOrEqual(Math.floor(elapsed / 1000) + 1);
    for (let i = 1; i < runs.length; i++) {
      // Never two in one period (less the 10% slack a claim allows for timer jitter).
      expect(runs[i]!.startedAt - runs[i - 1]!.startedAt).toBeGreaterThanOrEqual(900);
    }
  }, 40_000);

  it('a probe run started on one replica is visible and cancellable from another', async () => {
    const db = await testDatabase(serverUrl, 'cancel');
    const a = await replica(db, [upstreamConfig(upstream.url)]);
    const b = await replica(db, [upstreamConfig(upstream.url)]);
    const res = await fetch(`${a.url}/api/probes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ upstream: 'everything', mode: 'fanout', intervals: [30] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    // Saved at start: B reads it from the store.
    let seen: { status?: string } = {};
    for (let i = 0; i < 50 && seen.status !== 'running'; i++) {
      const got = await fetch(`${b.url}/api/probes/${id}`);
      if (got.status === 200) seen = (await got.json()) as { status: string };
      else await sleep(100);
    }
    expect(seen.status).toBe('running');
    // B follows the run's progress from the store until it ends.
    const events = fetch(`${b.url}/api/probes/${id}/events`).then(async (r) => {
      let text = '';
      for await (const chunk of r.body!) text += Buffer.from(chunk).toString('utf8');
      return text;
    });
    const cancel = await fetch(`${b.url}/api/probes/${id}`, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    // A looks every second and cancels it; B then reads the outcome from the store.
    let status = 'running';
    for (let i = 0; i < 60 && status === 'running'; i++) {
      await sleep(100);
      status = ((await (await fetch(`${b.url}/api/probes/${id}`)).json()) as { status: string }).status;
    }
    expect(status).toBe('cancelled');
    expect((await fetch(`${b.url}/api/probes/${id}`, { method: 'DELETE' })).status).toBe(409);
    const stream = await events;
    expect(stream).toMatch(/event: opened\ndata: \{"type":"opened".*"upstream":"everything"/);
    expect(stream).toMatch(/event: upstream-done\n/);
    expect(stream).toMatch(/event: run-done\ndata: \{"type":"run-done".*"status":"cancelled"\}\n\n$/);
  }, 30_000);

  it('the compose example config starts a replica on PostgreSQL with the environment it is given', async () => {
    const db = await testDatabase(serverUrl, 'example');
    const config = await loadConfig({
      path: 'examples/replicas/config.yaml',
      env: { DATABASE_URL: db, MCP_PROBE_ADMIN_TOKEN: 'example-token' },
    });
    expect(config!.storage.url).toBe(db);
    const running = await startServer({
      config: { ...config!, server: { ...config!.server, host: '127.0.0.1', port: 0 } },
      logger: silentLogger,
    });
    cleanups.push(() => running.close());
    expect(running.store.kind).toBe('postgres');
    const res = await fetch(`${running.url}/api/upstreams`, {
      headers: { authorization: 'Bearer example-token' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Array<{ id: string }>).map((u) => u.id)).toEqual(['linear']);
  });

  // Debian's nginx when installed (as the benchmark uses it); the compose file's nginx.conf as written.
  it.skipIf(!existsSync('/usr/sbin/nginx'))(
    "the example's nginx.conf keeps a session on one replica and hands it to the other when that one stops",
    async () => {
      const db = await testDatabase(serverUrl, 'nginx');
      const replicas = [
        await replica(db, [upstreamConfig(upstream.url)]),
        await replica(db, [upstreamConfig(upstream.url)]),
      ];
      const port = await findFreePort();
      const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-nginx-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      for (const t of ['body', 'proxy']) mkdirSync(join(dir, t));
      const conf = readFileSync('examples/replicas/nginx.conf', 'utf8')
        .replace('server probe-a:8787', `server 127.0.0.1:${replicas[0]!.port}`)
        .replace('server probe-b:8787', `server 127.0.0.1:${replicas[1]!.port}`)
        .replace('listen 8787;', `listen 127.0.0.1:${port};`)
        .replace(
          'http {',
          `http {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;`,
        );
      const prelude = `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n${process.getuid?.() === 0 ? 'user root;\n' : ''}`;
      writeFileSync(join(dir, 'nginx.conf'), prelude + conf);
      const nginx: ChildProcess = spawn(
        '/usr/sbin/nginx',
        ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')],
        {
          stdio: 'ignore',
        },
      );
      cleanups.push(async () => {
        if (nginx.exitCode !== null) return;
        const exited = new Promise((r) => nginx.once('exit', r));
        nginx.kill('SIGTERM');
        await exited;
      });
      const mcp = `http://127.0.0.1:${port}/mcp/everything`;
      let sessionId: string | undefined;
      for (let i = 0; i < 50 && !sessionId; i++) {
        sessionId = await initializeSession(mcp).then(
          (r) => r.sessionId,
          () => undefined,
        );
        if (!sessionId) await sleep(100);
      }
      for (let id = 10; id < 15; id++)
        expect((await postJsonRpc(mcp, toolsListMessage(id), { sessionId })).status).toBe(200);
      // Affinity: every request carrying the session id went to one replica. (The initialize carries
      // none, so it may have gone to either: the other then knows the session from its start only.)
      const holder = replicas.find((r) => (r.tracker.lookup('everything', sessionId!)?.exchanges ?? 0) >= 6)!;
      const other = replicas.find((r) => r !== holder)!;
      expect(other.tracker.lookup('everything', sessionId!)?.exchanges ?? 1).toBe(1);
      // 7 with the initialize; 6 if the initialize went to the other replica and its row was not
      // written yet when the holder looked twice (a loaded machine).
      expect(holder.tracker.lookup('everything', sessionId!)!.exchanges).toBeGreaterThanOrEqual(6);
      // The holder stops; the other replica takes the session over with its history from the store.
      await holder.close();
      await sleep(1200);
      expect((await postJsonRpc(mcp, toolsListMessage(20), { sessionId })).status).toBe(200);
      await other.recorder.flush();
      const last = (await other.store.listExchanges({ upstream: 'everything' })).at(-1)!;
      expect(last.rpcId).toBe('20');
      expect(last.exchangesBefore).toBeGreaterThanOrEqual(6);
      expect(last.idleGapMs!).toBeGreaterThanOrEqual(1200);
      expect(last.idleGapMs!).toBeLessThan(4000);
    },
    30_000,
  );
});
