// `npm run soak`: the full load test, against the real CLI in a child process.
//
//   1. 200 concurrent sessions × 50 tools/call through the proxy to the demo upstream;
//      the proxy's RSS and open file descriptors are sampled from /proc while it runs and
//      must be flat after warm-up.
//   2. 100,000 distinct session ids seen (an upstream that accepts any id, so every request
//      adopts a new session), on an in-process server: the tracker stays under its cap and
//      the JS heap after a full GC stays flat.
//   3. SIGTERM, exit 0, and the store holds exactly one exchange per request sent.
//
// Options: --sessions N --calls N --seen N --concurrency N (defaults: 200, 50, 100000, 64).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import { defaultConfig } from '../../src/config/load.js';
import { startDemoUpstream } from '../../src/demo/upstream.js';
import { silentLogger } from '../../src/log.js';
import { startServer } from '../../src/server.js';
import { startServe, writeConfig } from '../helpers/cli.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '200' },
    calls: { type: 'string', default: '50' },
    seen: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '64' },
  },
});
const SESSIONS = Number(values.sessions);
const CALLS = Number(values.calls);
const SEEN = Number(values.seen);
const CONCURRENCY = Number(values.concurrency);
const MAX_TRACKED = 10_000;
const RSS_GROWTH_LIMIT_MB = 40;
const FD_GROWTH_LIMIT = 10;
const HEAP_GROWTH_LIMIT_MB = 10;

interface Sample {
  progress: number;
  rssMb: number;
  fds: number;
}

function sampleProcess(pid: number, progress: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { progress, rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Growth between the warm-up window (20–40 % done) and the end (80–100 %), by the max of each. */
function growth(
  samples: Sample[],
  pick: (s: Sample) => number,
): { warm: number; end: number; growth: number } {
  const max = (from: number, to: number) =>
    Math.max(...samples.filter((s) => s.progress >= from && s.progress <= to).map(pick));
  const warm = max(0.2, 0.4);
  const end = max(0.8, 1);
  return { warm, end, growth: end - warm };
}

const dispatcher = new Agent({ connections: CONCURRENCY * 2, keepAliveTimeout: 10_000 });

async function post(url: string, body: string, sessionId?: string) {
  const res = await request(url, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
    },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, sessionId: res.headers['mcp-session-id'] as string | undefined, text };
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-soak-'));
  const demo = await startDemoUpstream({ responseMode: 'json' });
  // Accepts any session id: each made-up id is a new session for the proxy's tracker.
  const lenient = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
    });
  });
  await new Promise<void>((r) => lenient.listen(0, '127.0.0.1', r));
  const lenientUrl = `http://127.0.0.1:${(lenient.address() as AddressInfo).port}/mcp`;
  const dbPath = join(dir, 'soak.db');
  const config = writeConfig(dir, {
    upstreams: [{ id: 'demo', url: demo.url }],
    server: { host: '127.0.0.1', port: 0 },
    storage: { url: `sqlite:${dbPath}` },
    tracker: { maxSessions: MAX_TRACKED },
  });
  const serve = await startServe(config);
  const pid = serve.child.pid!;
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    process.stderr.write(`${ok ? 'PASS' : 'FAIL'}  ${what}\n`);
    if (!ok) failures.push(what);
  };

  try {
    // Phase 1: sessions × calls.
    const mcp = `${serve.url}/mcp/demo`;
    const total = SESSIONS * (CALLS + 2);
    let sent = 0;
    let errors = 0;
    const samples: Sample[] = [];
    const sampler = setInterval(() => samples.push(sampleProcess(pid, sent / total)), 200);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: SESSIONS }, async (_, s) => {
        const init = await post(
          mcp,
          JSON.stringify({
            jsonrpc: '2.0',
            id: 0,
            method: 'initialize',
            params: {
              protocolVersion: '2025-06-18',
              capabilities: {},
              clientInfo: { name: 'soak', version: '1' },
            },
          }),
        );
        sent++;
        const sid = init.sessionId;
        await post(mcp, '{"jsonrpc":"2.0","method":"notifications/initialized"}', sid);
        sent++;
        for (let c = 1; c <= CALLS; c++) {
          const r = await post(
            mcp,
            JSON.stringify({
              jsonrpc: '2.0',
              id: c,
              method: 'tools/call',
              params: { name: 'echo', arguments: { text: `s${s}c${c}` } },
            }),
            sid,
          );
          sent++;
          if (r.status !== 200) errors++;
        }
      }),
    );
    clearInterval(sampler);
    samples.push(sampleProcess(pid, 1));
    const seconds = (performance.now() - t0) / 1000;
    const rss = growth(samples, (s) => s.rssMb);
    const fds = growth(samples, (s) => s.fds);
    process.stderr.write(
      `phase 1: ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)} req/s), ` +
        `RSS ${rss.warm.toFixed(1)} → ${rss.end.toFixed(1)} MB after warm-up, fds ${fds.warm} → ${fds.end}\n`,
    );
    check(errors === 0, `phase 1: every call answered 200 (${errors} errors)`);
    check(
      rss.growth < RSS_GROWTH_LIMIT_MB,
      `phase 1: RSS growth after warm-up ${rss.growth.toFixed(1)} MB < ${RSS_GROWTH_LIMIT_MB} MB`,
    );
    check(
      fds.growth <= FD_GROWTH_LIMIT,
      `phase 1: open fds growth after warm-up ${fds.growth} <= ${FD_GROWTH_LIMIT}`,
    );

    // Phase 2: many sessions seen, on an in-process server so that its JS heap can be
    // measured after a full GC (RSS also grows with the SQLite file's native caches as the
    // sessions table reaches 100,000 rows; the tracker's own memory is the heap).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const base = defaultConfig();
    const inProcess = await startServer({
      config: {
        ...base,
        upstreams: [
          {
            id: 'lenient',
            name: 'lenient',
            url: lenientUrl,
            transport: 'streamable-http',
            headers: {},
            timeoutSeconds: 60,
          },
        ],
        server: { ...base.server, host: '127.0.0.1', port: 0 },
        storage: { url: `sqlite:${join(dir, 'seen.db')}` },
        tracker: { ...base.tracker, maxSessions: MAX_TRACKED },
      },
      logger: silentLogger,
    });
    const heapAt: Array<{ seen: number; heapMb: number; rssMb: number }> = [];
    const t1 = performance.now();
    let next = 0;
    for (const stop of [0.2, 0.4, 0.6, 0.8, 1].map((f) => Math.round(f * SEEN))) {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < stop) {
            const i = next++;
            await post(
              `${inProcess.url}/mcp/lenient`,
              `{"jsonrpc":"2.0","id":${i},"method":"ping"}`,
              `soak-session-${i.toString(36)}-${'x'.repeat(24)}`,
            );
          }
        }),
      );
      await inProcess.recorder.flush();
      gc();
      gc();
      const m = process.memoryUsage();
      heapAt.push({ seen: stop, heapMb: m.heapUsed / 2 ** 20, rssMb: m.rss / 2 ** 20 });
    }
    const tracked = inProcess.tracker.size;
    const heapGrowth = heapAt.at(-1)!.heapMb - heapAt[0]!.heapMb;
    process.stderr.write(
      `phase 2: ${SEEN} sessions seen in ${((performance.now() - t1) / 1000).toFixed(1)} s, tracked now ${tracked}; ` +
        `heap after GC ${heapAt.map((h) => `${h.seen}: ${h.heapMb.toFixed(1)} MB`).join(', ')}; ` +
        `RSS ${heapAt[0]!.rssMb.toFixed(0)} → ${heapAt.at(-1)!.rssMb.toFixed(0)} MB\n`,
    );
    check(tracked <= MAX_TRACKED, `phase 2: tracker holds ${tracked} <= ${MAX_TRACKED} sessions`);
    check(
      heapGrowth < HEAP_GROWTH_LIMIT_MB,
      `phase 2: heap growth from ${heapAt[0]!.seen} to ${SEEN} sessions seen ${heapGrowth.toFixed(1)} MB < ${HEAP_GROWTH_LIMIT_MB} MB`,
    );
    await inProcess.close();
    const seenDb = new Database(join(dir, 'seen.db'), { readonly: true });
    const seenCount = (seenDb.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n;
    seenDb.close();
    check(seenCount === SEEN, `store: ${seenCount} exchanges for ${SEEN} requests sent (phase 2)`);

    // Phase 3: clean stop, then count.
    serve.child.kill('SIGTERM');
    const code = await serve.exited;
    check(code === 0, `SIGTERM: exit code ${code}`);
    const db = new Database(dbPath, { readonly: true });
    const count = (upstream: string) =>
      (db.prepare('SELECT count(*) AS n FROM exchanges WHERE upstream = ?').get(upstream) as { n: number }).n;
    const demoCount = count('demo');
    db.close();
    check(demoCount === sent, `store: ${demoCount} exchanges for ${sent} requests sent (phase 1)`);
  } finally {
    serve.child.kill('SIGKILL');
    await demo.close();
    lenient.close();
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(failures.length ? `\nsoak FAILED: ${failures.length} check(s)\n` : '\nsoak passed\n');
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
