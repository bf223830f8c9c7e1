// `npx tsx test/soak/adminReads.ts`: what admin reads on a large store cost proxied traffic
// (docs/decisions/0022-admin-reads-off-the-forwarding-thread.md).
//
// Fills a SQLite store with --rows exchanges (and a session per 20 of them) for the upstream
// the proxy forwards to, starts the real CLI on it, and drives closed-loop proxied traffic
// (tools/list on a demo upstream, --clients keep-alive clients) for two phases of --seconds
// each: without admin reads, then with a client reading /api/report, /api/sessions and the
// upstream's dashboard page back to back. Prints the proxied p50/p99/max of each phase and
// the admin reads' own latencies.
//
// Options: --rows 1000000 --clients 8 --seconds 15 --reads /api/report,... --store-process on|off (off: the store in
//          the forwarding process, as a library embedding has it)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startDemoUpstream } from '../../src/demo/upstream.js';
import type { Observation } from '../../src/sessions/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { startServe, writeConfig } from '../helpers/cli.js';
import { exchangeRecord } from '../helpers/records.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '15' },
    'store-process': { type: 'string', default: 'on' },
    /** Comma-separated admin paths read back to back in the second phase. */
    reads: { type: 'string', default: '/api/report,/api/sessions?limit=100,/upstreams/up' },
  },
});
const ROWS = Number(values.rows);
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const READS = values.reads.split(',').filter(Boolean);

async function fill(path: string): Promise<void> {
  const store = openSqliteStore({ path });
  const t0 = Date.now() - ROWS * 50;
  const batch: Observation[] = [];
  const outcomes = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'session_expired'] as const;
  for (let i = 0; i < ROWS; i++) {
    const session = `s${Math.floor(i / 20)
      .toString(16)
      .padStart(15, '0')}`;
    batch.push({
      type: 'exchange',
      exchange: exchangeRecord({
        upstream: 'up',
        sessionHash: session,
        rpcId: String(i),
        startedAt: t0 + i * 50,
        endedAt: t0 + i * 50 + 5,
        outcome: outcomes[i % 10]!,
        httpStatus: i % 10 === 9 ? 404 : 200,
        confidence: i % 10 === 9 ? 'spec' : null,
        idleGapMs: (i * 7919) % 600_000,
        sessionAgeMs: (i % 20) * 1000,
        exchangesBefore: i % 20,
      }),
    });
    if (i % 20 === 0) {
      batch.push({
        type: 'session',
        session: {
          upstream: 'up',
          source: 'proxy',
          sessionHash: session,
          transport: 'streamable-http',
          openedAt: t0 + i * 50,
          adopted: false,
          initLatencyMs: 100 + (i % 300),
          initializedAt: t0 + i * 50 + 1,
          protocolVersion: '2025-06-18',
          clientName: 'fill',
          clientVersion: '1',
          serverName: 'demo',
          serverVersion: '1',
          exchanges: 20,
          lastActivityAt: t0 + (i + 19) * 50,
          endedAt: null,
          endReason: null,
        },
      });
    }
    if (batch.length >= 10_000) await store.write(batch.splice(0));
  }
  await store.write(batch.splice(0));
  await store.close();
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

function summary(latencies: number[]): string {
  const s = [...latencies].sort((a, b) => a - b);
  return `n=${s.length} p50 ${pct(s, 0.5).toFixed(2)} ms, p99 ${pct(s, 0.99).toFixed(2)} ms, max ${s.at(-1)?.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-admin-reads-'));
  const dbPath = join(dir, 'big.db');
  const filled = performance.now();
  await fill(dbPath);
  process.stdout.write(`filled ${ROWS} rows in ${((performance.now() - filled) / 1000).toFixed(1)} s\n`);
  const demo = await startDemoUpstream({ responseMode: 'json' });
  const config = writeConfig(dir, {
    upstreams: [{ id: 'up', url: demo.url }],
    server: { host: '127.0.0.1', port: 0 },
    storage: { url: `sqlite:${dbPath}` },
  });
  const serve = await startServe(config, {
    timeoutMs: 60_000,
    env: values['store-process'] === 'off' ? { MCP_PROBE_STORE_PROCESS: 'off' } : {},
  });
  const mcp = `${serve.url}/mcp/up`;
  const agent = new Agent({ connections: CLIENTS + 4 });
  try {
    const init = await request(mcp, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'reads', version: '1' },
        },
      }),
    });
    await init.body.text();
    const sessionId = init.headers['mcp-session-id'] as string;

    async function phase(
      withReads: boolean,
    ): Promise<{ proxied: number[]; reads: Record<string, number[]> }> {
      const until = Date.now() + SECONDS * 1000;
      const proxied: number[] = [];
      const reads: Record<string, number[]> = {};
      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; Date.now() < until; i++) {
          const t = performance.now();
          const res = await request(mcp, {
            method: 'POST',
            dispatcher: agent,
            headers: {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              'mcp-session-id': sessionId,
            },
            body: `{"jsonrpc":"2.0","id":${c * 1e6 + i},"method":"tools/list"}`,
          });
          await res.body.text();
          proxied.push(performance.now() - t);
        }
      });
      const reader = (async () => {
        if (!withReads) return;
        while (Date.now() < until) {
          for (const path of READS) {
            const t = performance.now();
            const res = await request(`${serve.url}${path}`, { dispatcher: agent });
            await res.body.text();
            const list = reads[path] ?? [];
            list.push(performance.now() - t);
            reads[path] = list;
          }
        }
      })();
      await Promise.all([...clients, reader]);
      return { proxied, reads };
    }

    await phase(false); // warm-up
    const quiet = await phase(false);
    const busy = await phase(true);
    process.stdout.write(`store process: ${values['store-process']}\n`);
    process.stdout.write(`proxied, no admin reads:   ${summary(quiet.proxied)}\n`);
    process.stdout.write(`proxied, with admin reads: ${summary(busy.proxied)}\n`);
    for (const [path, l] of Object.entries(busy.reads)) process.stdout.write(`  ${path}: ${summary(l)}\n`);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    await demo.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`admin reads: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
