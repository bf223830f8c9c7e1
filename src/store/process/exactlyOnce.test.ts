// The store process commits a batch and dies before it answers (a test-only hook kills it right
// after the commit): the recorder sends the batch again to the next store process, and still every
// exchange is one row and each session's count equals its rows, on SQLite and on PostgreSQL.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { testDatabase } from '../../../test/helpers/postgres.js';
import { exchange, session } from '../../../test/helpers/storeFixtures.js';
import type { Observation } from '../../sessions/types.js';
import { createRecorder } from '../recorder.js';
import { openStoreProcess } from './index.js';

const CRASH_FLAG_ENV = 'MCP_PROBE_TEST_CRASH_AFTER_WRITE';
const EXCHANGES = 150;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const dialects: Array<{ name: string; url: (dir: string) => Promise<string> }> = [
  { name: 'sqlite', url: async (dir) => `sqlite:${join(dir, 'probe.db')}` },
  ...(inject('postgresUrl')
    ? [{ name: 'postgres', url: () => testDatabase(inject('postgresUrl'), 'once') }]
    : []),
];

describe.each(dialects)('a batch committed by a store process that died before answering ($name)', (d) => {
  it('is sent again and written once: rows equal exchanges, and the session count equals its rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-once-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const flag = join(dir, 'crash-after-next-write');
    // Inherited by every store process this test starts; each looks for the file after a commit.
    process.env[CRASH_FLAG_ENV] = flag;
    cleanups.push(() => {
      delete process.env[CRASH_FLAG_ENV];
    });
    const store = await openStoreProcess({ url: await d.url(dir), upstreams: [], restartDelayMs: 50 });
    cleanups.push(() => store.close());
    const recorder = createRecorder({ store, flushIntervalMs: 10, maxBatch: 50, maxBackoffMs: 100 });
    cleanups.push(() => recorder.close());

    const firstPid = store.pid;
    writeFileSync(flag, '');
    for (let i = 0; i < EXCHANGES; i++) {
      const obs: Observation[] = [
        { type: 'exchange', exchange: exchange({ rpcId: `r${i}`, startedAt: 1000 + i }) },
        { type: 'session', session: session({ exchanges: i + 1, lastActivityAt: 1000 + i }) },
      ];
      for (const o of obs) recorder.record(o);
    }
    const deadline = Date.now() + 30_000;
    while (recorder.stats().queued > 0 && Date.now() < deadline) {
      await recorder.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(recorder.stats()).toMatchObject({ queued: 0, dropped: 0 });
    // The fault did hit: the first batch committed, then its store process died unanswered.
    expect(existsSync(flag)).toBe(false);
    expect(recorder.stats().failures).toBeGreaterThan(0);
    expect(store.pid).not.toBe(firstPid);

    const rows = await store.listExchanges({ limit: 10_000 });
    expect(rows).toHaveLength(EXCHANGES);
    expect(new Set(rows.map((r) => r.rpcId)).size).toBe(EXCHANGES);
    const [stored] = await store.listSessions({});
    expect(stored?.exchanges).toBe(rows.length);
  }, 60_000);
});
