// Admin reads and the forwarding thread: with the store in its own process, a report over
// 10,000 exchanges is read and analysed there, and the forwarding process's event loop is not
// held for it; with the store in process (the library's default) it is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import type { Observation } from '../src/sessions/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { upstreamConfig } from './helpers/proxy.js';
import { exchangeRecord } from './helpers/records.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store holding `rows` exchanges of upstream `up`, with an expiry now and then. */
async function filledStore(rows: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-admin-reads-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'probe.db');
  const store = openSqliteStore({ path });
  const t0 = Date.now() - rows * 1000;
  const batch: Observation[] = [];
  for (let i = 0; i < rows; i++) {
    const expired = i % 10 === 9;
    batch.push({
      type: 'exchange',
      exchange: exchangeRecord({
        upstream: 'up',
        sessionHash: `s${Math.floor(i / 10)}`,
        rpcId: String(i),
        startedAt: t0 + i * 1000,
        outcome: expired ? 'session_expired' : 'ok',
        httpStatus: expired ? 404 : 200,
        confidence: expired ? 'spec' : null,
        idleGapMs: (i * 7919) % 600_000,
        sessionAgeMs: (i % 10) * 1000,
        exchangesBefore: i % 10,
      }),
    });
  }
  await store.write(batch);
  await store.close();
  return path;
}

/** The longest the event loop was held while `/api/report` was read three times. */
async function longestStallDuringReports(storeProcess: boolean, dbPath: string): Promise<number> {
  const base = defaultConfig();
  const running = await startServer({
    config: {
      ...base,
      upstreams: [upstreamConfig('up', 'http://127.0.0.1:9/mcp')],
      server: { ...base.server, host: '127.0.0.1', port: 0 },
      storage: { url: `sqlite:${dbPath}` },
    },
    logger: silentLogger,
    storeProcess,
  });
  cleanups.push(() => running.close());
  // Warm: the first report compiles the analysis code.
  expect((await fetch(`${running.url}/api/report`)).status).toBe(200);
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${running.url}/api/report`);
    const body = (await res.json()) as {
      upstreams: Array<{ id: string; lifetime: { expirations: number } }>;
    };
    // The report did read the rows: not an empty answer.
    expect(body.upstreams.find((u) => u.id === 'up')?.lifetime.expirations).toBeGreaterThan(0);
  }
  h.disable();
  return h.max / 1e6;
}

describe('admin reads and the forwarding thread', () => {
  it('a report over 10,000 exchanges holds the event loop far less with the store in its own process', async () => {
    const dbPath = await filledStore(20_000);
    // The store process first: the in-process run leaves garbage whose collection would be
    // counted against the next run.
    const isolated = await longestStallDuringReports(true, dbPath);
    const inProcess = await longestStallDuringReports(false, dbPath);
    // In process, the query and the analysis run on this thread (hundreds of ms on this VM);
    // in the store process only the small answer is read here. Ratios, not absolute bounds:
    // a loaded machine stretches both.
    expect(isolated).toBeLessThan(inProcess / 3);
  }, 90_000);
});
