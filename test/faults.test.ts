// Fault tests: what the client sees and what is recorded when the upstream,
// the client, the store or the process itself fails. Real servers on loopback only.
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { type Logger, silentLogger } from '../src/log.js';
import type { ProbeResult } from '../src/probe/result.js';
import { PROBE_STALE_AFTER_MS } from '../src/probe/run.js';
import { INTERRUPTED_REASON } from '../src/probe/runner.js';
import { startServer } from '../src/server.js';
import { openStore } from '../src/store/index.js';
import type { SqliteObservationStore } from '../src/store/sqlite.js';
import {
  initializeMessage,
  initializeSession,
  openEventStream,
  postJsonRpc,
  toolsListMessage,
  upstreamPool,
} from './fixtures/upstreams.js';
import { runCli, startServe, writeConfig } from './helpers/cli.js';
import { REFUSED_PORT, sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await upstreams.closeAll();
});

/** A raw node:http upstream on a free loopback port, for faults the SDK server cannot produce. */
async function rawUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

async function proxyFor(url: string, extra = {}): Promise<TestProxy> {
  const p = await startTestProxy([upstreamConfig('up', url, extra)]);
  cleanups.push(() => p.cleanup());
  return p;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

const PROGRESS_EVENT =
  'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n';

describe('faults: the upstream', () => {
  it('resets mid-SSE: the client stream ends and the exchange is stream_closed', async () => {
    const { url } = await rawUpstream((req, res) => {
      req.resume();
      req.once('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(PROGRESS_EVENT);
        setTimeout(() => res.socket?.destroy(), 50);
      });
    });
    const p = await proxyFor(url);
    const res = await fetch(p.mcpUrl('up'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': 'sid-1',
      },
      body: JSON.stringify(toolsListMessage(7)),
    });
    expect(res.status).toBe(200);
    let received = '';
    let failed = false;
    try {
      for await (const chunk of res.body!) received += Buffer.from(chunk).toString();
    } catch {
      failed = true; // the proxy cut the client stream, as the upstream cut its own
    }
    expect(received).toContain('notifications/progress');
    expect(failed).toBe(true);
    await p.flush();
    const [exchange] = await p.store.listExchanges({ upstream: 'up' });
    expect(exchange).toMatchObject({ outcome: 'stream_closed', httpStatus: 200, rpcMethod: 'tools/list' });
  });
});

describe('faults: the client goes away', () => {
  /** An upstream that answers nothing (`hold`) or only SSE headers and one event (`stream`), counting open requests. */
  async function holdingUpstream(mode: 'hold' | 'stream') {
    let open = 0;
    let seen = 0;
    const up = await rawUpstream((req, res) => {
      open++;
      seen++;
      res.once('close', () => open--);
      req.resume();
      if (mode === 'stream')
        req.once('end', () => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(PROGRESS_EVENT);
        });
    });
    return { ...up, open: () => open, seen: () => seen };
  }

  for (const mode of ['hold', 'stream'] as const) {
    it(`mid-${mode === 'hold' ? 'request' : 'stream'}: the upstream request is aborted and nothing stays in flight`, async () => {
      const up = await holdingUpstream(mode);
      const p = await proxyFor(up.url);
      const pool = p.registry.get('up')!.requests;
      const abort = new AbortController();
      const pending = fetch(p.mcpUrl('up'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(toolsListMessage()),
        signal: abort.signal,
      }).then(async (res) => {
        // Mid-stream: read the first event, then go away.
        const reader = res.body!.getReader();
        await reader.read();
        abort.abort();
      });
      // `seen`, not `open() === 1`: mid-stream, the client may read the event and go away (and the
      // proxy close the upstream request) between two polls, so `open` can be 1 for under 10 ms.
      await waitFor('the upstream to receive the request', () => up.seen() === 1);
      if (mode === 'hold') abort.abort();
      await pending.catch(() => {});
      await waitFor('the upstream request to be closed', () => up.open() === 0);
      await waitFor(
        "the proxy's upstream client to have nothing running",
        () => pool.stats.running === 0 && pool.stats.pending === 0,
      );
      // And the proxy keeps working on the same pool.
      expect(up.seen()).toBe(1);
      await p.flush();
      const exchanges = await p.store.listExchanges({ upstream: 'up' });
      expect(exchanges).toHaveLength(1);
      expect(exchanges[0]!.endedAt).not.toBeNull();
    });
  }
});

describe('faults: a slow client reading a fast SSE stream', () => {
  it('backpressure reaches the upstream: the proxy does not buffer the stream', async () => {
    const EVENT = `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(64 * 1024) } })}\n\n`;
    const TOTAL_EVENTS = 512; // ~32 MiB
    let pushed = 0;
    const { url } = await rawUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let sent = 0;
      const pump = () => {
        while (sent < TOTAL_EVENTS) {
          sent++;
          pushed += EVENT.length;
          if (!res.write(EVENT)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const p = await proxyFor(url);
    const { hostname, port } = new URL(p.url);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(
        {
          hostname,
          port,
          path: '/mcp/up',
          method: 'GET',
          headers: { accept: 'text/event-stream', 'mcp-session-id': 's' },
        },
        resolve,
      );
      req.once('error', reject);
      req.end();
    });
    expect(response.statusCode).toBe(200);
    // The client reads nothing for a while.
    const heapBefore = process.memoryUsage().heapUsed;
    await sleep(800);
    const pushedWhileStalled = pushed;
    expect(pushedWhileStalled).toBeLessThan(16 * 1024 * 1024); // socket buffers, not the stream
    expect(pushedWhileStalled).toBeLessThan((TOTAL_EVENTS * EVENT.length) / 2);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    // Then it reads everything, intact.
    let received = 0;
    for await (const chunk of response) received += (chunk as Buffer).length;
    expect(received).toBe(TOTAL_EVENTS * EVENT.length);
  });
});

describe('faults: the store', () => {
  it('turns read-only: forwarding goes on, drops are counted on /metrics, logged once per burst, recording resumes', async () => {
    const upstream = await upstreams.start({ responseMode: 'json' });
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-faults-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const lines: Array<{ level: string; msg: string }> = [];
    const capture = (level: string) => (msg: string) => void lines.push({ level, msg });
    const logger: Logger = {
      debug: capture('debug'),
      info: capture('info'),
      warn: capture('warn'),
      error: capture('error'),
    };
    const base = defaultConfig();
    const config: Config = {
      ...base,
      upstreams: [upstreamConfig('up', upstream.url)],
      server: { ...base.server, port: 0, host: '127.0.0.1', shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${join(dir, 'probe.db')}` },
    };
    const running = await startServer({
      config,
      logger,
      recorder: { maxQueue: 10, flushIntervalMs: 10, maxBackoffMs: 50 },
    });
    cleanups.push(() => running.close());
    const sqlite = (running.store as SqliteObservationStore).sqlite;
    const mcp = `${running.url}/mcp/up`;
    await postJsonRpc(mcp, initializeMessage());
    await running.recorder.flush();

    // The database turns read-only under the running proxy (as a remounted disk would).
    sqlite.pragma('query_only = ON');
    for (let i = 0; i < 15; i++) {
      const res = await postJsonRpc(mcp, initializeMessage(i));
      expect(res.status).toBe(200);
    }
    await running.recorder.flush();
    expect(running.recorder.stats()).toMatchObject({ failing: true });
    expect(running.recorder.stats().dropped).toBeGreaterThan(0);
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    const dropped = /^mcpprobe_recorder_dropped\S*\s+(\d+)/m.exec(metrics);
    expect(dropped, metrics.slice(0, 2000)).not.toBeNull();
    expect(Number(dropped![1])).toBe(running.recorder.stats().dropped);
    expect(lines.filter((l) => l.msg.includes('store write failed'))).toHaveLength(1);

    // Writable again.
    sqlite.pragma('query_only = OFF');
    const res = await postJsonRpc(mcp, toolsListMessage(99));
    expect(res.status).toBeLessThan(500);
    await waitFor('the recorder to recover', () => !running.recorder.stats().failing);
    await running.recorder.flush();
    expect(running.recorder.stats().queued).toBe(0);
    expect(lines.filter((l) => l.msg.includes('recovered'))).toHaveLength(1);
    const exchanges = await running.store.listExchanges({ upstream: 'up', limit: 1000 });
    expect(exchanges.some((e) => e.rpcId === '99')).toBe(true);
  });
});

describe('faults: the process', () => {
  async function cliSetup() {
    const upstream = await upstreams.start({ responseMode: 'json' });
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-cli-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dbPath = join(dir, 'probe.db');
    const configPath = writeConfig(dir, {
      upstreams: [{ id: 'up', url: upstream.url }],
      server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 5 },
      storage: { url: `sqlite:${dbPath}` },
    });
    return { upstream, dir, dbPath, configPath };
  }

  it('kill -9 under load, then restart: the database opens and everything flushed before is there', async () => {
    const { dbPath, configPath } = await cliSetup();
    const serve = await startServe(configPath);
    cleanups.push(() => void serve.child.kill('SIGKILL'));
    const mcp = `${serve.url}/mcp/up`;
    const { sessionId } = await initializeSession(mcp);
    for (let i = 0; i < 40; i++) await postJsonRpc(mcp, toolsListMessage(1000 + i), { sessionId });
    // Wait until the child has written all of the above (read from its database, not a fixed sleep).
    const reader = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const written = reader.prepare(
        "SELECT count(*) AS n FROM exchanges WHERE rpc_method = 'tools/list' AND CAST(rpc_id AS INTEGER) BETWEEN 1000 AND 1039",
      );
      await waitFor('the 40 calls to be written', () => (written.get() as { n: number }).n === 40, 10_000);
    } finally {
      reader.close();
    }
    // Load continues while the process is killed.
    const load = Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => postJsonRpc(mcp, toolsListMessage(5000 + i), { sessionId })),
    );
    await sleep(5);
    serve.child.kill('SIGKILL');
    expect(await serve.exited).toBe('SIGKILL');
    await load;

    const store = await openStore(`sqlite:${dbPath}`);
    try {
      await store.migrate();
      const ids = new Set((await store.listExchanges({ upstream: 'up', limit: 10_000 })).map((e) => e.rpcId));
      for (let i = 0; i < 40; i++) expect(ids.has(String(1000 + i))).toBe(true);
      expect((await store.listSessions({ upstream: 'up' })).length).toBe(1);
    } finally {
      await store.close();
    }
    // And the CLI starts again on the same file.
    const again = await startServe(configPath);
    cleanups.push(() => void again.child.kill('SIGKILL'));
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
  }, 40_000);

  it('a CLI probe killed with -9 mid-run: the next server marks its run failed once the heartbeat is stale, keeping what it measured', async () => {
    const { upstream, dbPath, configPath } = await cliSetup();
    const probe = runCli([
      'probe',
      '--config',
      configPath,
      '--intervals',
      '0.05,30',
      '--output',
      join(dbPath, '..', 'out.json'),
    ]);
    cleanups.push(() => void probe.child.kill('SIGKILL'));
    // Killed during the 30 s idle gap, once the 0.05 s checkpoint is saved (read from its database).
    let runId = '';
    await waitFor(
      'the first checkpoint to be saved',
      () => {
        let reader: Database.Database;
        try {
          reader = new Database(dbPath, { readonly: true, fileMustExist: true });
        } catch {
          return false;
        }
        try {
          const row = reader
            .prepare(
              "SELECT id FROM probe_runs WHERE status = 'running' AND json_array_length(result, '$.results[0].checkpoints') = 1",
            )
            .get() as { id: string } | undefined;
          runId = row?.id ?? '';
          return runId !== '';
        } catch {
          return false; // the tables are not there yet
        } finally {
          reader.close();
        }
      },
      15_000,
    );
    probe.child.kill('SIGKILL');
    expect(await probe.exited).toBe('SIGKILL');

    // A server started now leaves it alone: its heartbeat is recent.
    const base = defaultConfig();
    const config: Config = {
      ...base,
      upstreams: [upstreamConfig('up', upstream.url)],
      server: { ...base.server, port: 0, host: '127.0.0.1', shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${dbPath}` },
    };
    const now = await startServer({ config, logger: silentLogger });
    cleanups.push(() => now.close());
    const fresh = (await (await fetch(`${now.url}/api/probes/${runId}`)).json()) as ProbeResult;
    expect(fresh.status).toBe('running');
    await now.close();

    // One started after the stale time (its clock moved past it) says the run failed.
    const later = await startServer({
      config,
      logger: silentLogger,
      now: () => Date.now() + PROBE_STALE_AFTER_MS + 5_000,
    });
    cleanups.push(() => later.close());
    const res = await fetch(`${later.url}/api/probes/${runId}`);
    expect(res.status).toBe(200);
    const failed = (await res.json()) as ProbeResult;
    expect(failed.status).toBe('failed');
    expect(failed.fatalError).toBe(INTERRUPTED_REASON);
    expect(failed.results[0]!.checkpoints.map((c) => [c.idleSecondsTarget, c.success])).toEqual([
      [0.05, true],
    ]);
    const row = await later.store.getProbeRun(runId);
    expect(row).toMatchObject({ status: 'failed', finishedAt: row!.heartbeatAt });
  }, 40_000);

  it('the telemetry collector is down or hangs: forwarding is unaffected and shutdown still exits 0', async () => {
    // One collector that refuses connections, one that accepts and never answers.
    let collectorConnections = 0;
    const hanging = createNetServer((socket) => {
      collectorConnections++;
      cleanups.push(() => void socket.destroy());
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => hanging.close(() => r())));
    for (const port of [REFUSED_PORT, (hanging.address() as AddressInfo).port]) {
      const { configPath } = await cliSetup();
      const serve = await startServe(configPath, {
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_BSP_SCHEDULE_DELAY: '50',
          OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
        },
      });
      cleanups.push(() => void serve.child.kill('SIGKILL'));
      const mcp = `${serve.url}/mcp/up`;
      const { sessionId } = await initializeSession(mcp);
      const started = performance.now();
      for (let i = 0; i < 20; i++) {
        expect((await postJsonRpc(mcp, toolsListMessage(100 + i), { sessionId })).status).toBe(200);
      }
      // Twenty calls on loopback: nothing waits for the collector.
      expect(performance.now() - started).toBeLessThan(5000);
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
    }
    // The proxy did try to export to the hanging collector: the test is not vacuous.
    expect(collectorConnections).toBeGreaterThan(0);
  }, 90_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: stops accepting, lets in-flight requests finish, ends GET streams, flushes, closes the db, exits 0`, async () => {
      const { upstream, dbPath, configPath } = await cliSetup();
      const serve = await startServe(configPath);
      cleanups.push(() => void serve.child.kill('SIGKILL'));
      const mcp = `${serve.url}/mcp/up`;
      const { sessionId } = await initializeSession(mcp);
      const stream = await openEventStream(mcp, { sessionId: sessionId! });
      expect(stream.status).toBe(200);
      // An in-flight call that takes ~600 ms, still running when the signal arrives.
      const before = upstream.stats.methods.length;
      const inFlight = postJsonRpc(
        mcp,
        {
          jsonrpc: '2.0',
          id: 77,
          method: 'tools/call',
          params: { name: 'slow_progress', arguments: { steps: 3, intervalMs: 200 } },
        },
        { sessionId },
      );
      await waitFor(
        'the upstream to receive the in-flight call',
        () => upstream.stats.methods.length > before,
      );
      const signalledAt = performance.now();
      serve.child.kill(signal);
      const answered = await inFlight;
      expect(answered.status).toBe(200);
      await stream.ended; // the GET stream was ended by the proxy, not left hanging
      expect(await serve.exited).toBe(0);
      // Well within the 5 s grace: finished requests' keep-alive connections do not hold the exit.
      expect(performance.now() - signalledAt).toBeLessThan(4000);
      await expect(fetch(`${serve.url}/healthz`)).rejects.toThrow(); // no longer accepting
      const store = await openStore(`sqlite:${dbPath}`);
      try {
        const exchanges = await store.listExchanges({ upstream: 'up', limit: 100 });
        expect(exchanges.find((e) => e.rpcId === '77')).toMatchObject({
          outcome: 'ok',
          toolName: 'slow_progress',
        });
      } finally {
        await store.close();
      }
      expect(serve.output()).toContain(`${signal} received`);
    }, 30_000);
  }
});
