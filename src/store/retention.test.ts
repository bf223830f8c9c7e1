import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REFUSED_PORT, upstreamConfig } from '../../test/helpers/proxy.js';
import { exchangeRecord } from '../../test/helpers/records.js';
import { defaultConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { startServer } from '../server.js';
import type { Logger } from './recorder.js';
import { startRetention } from './retention.js';
import { openSqliteStore } from './sqlite.js';

const DAY = 86_400_000;
const T = 1_700_000_000_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function capture(): Logger & { lines: Array<[string, string, Record<string, unknown> | undefined]> } {
  const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
  return {
    lines,
    info: (msg, fields) => lines.push(['info', msg, fields]),
    warn: (msg, fields) => lines.push(['warn', msg, fields]),
  };
}

const old = (n: number, daysAgo: number) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'exchange' as const,
    exchange: exchangeRecord({ startedAt: T - daysAgo * DAY + i, rpcId: `d${daysAgo}-${i}` }),
  }));

describe('retention', () => {
  it('prunes in chunks until nothing older than the retention is left, and says what it deleted', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    cleanups.push(() => store.close());
    await store.write([...old(7, 10), ...old(3, 1)]);
    const logger = capture();
    const retention = startRetention({ store, retentionDays: 5, now: () => T, logger, chunkRows: 2 });
    cleanups.push(() => retention.stop());

    expect(await retention.runOnce()).toEqual({ exchanges: 7, sessions: 0, probeRuns: 0, credentials: 0 });
    expect((await store.listExchanges({ limit: 100 })).map((e) => e.rpcId)).toEqual(['d1-0', 'd1-1', 'd1-2']);
    expect(logger.lines).toEqual([
      [
        'info',
        'storage: deleted observations older than the retention',
        {
          retentionDays: 5,
          before: new Date(T - 5 * DAY).toISOString(),
          exchanges: 7,
          sessions: 0,
          probeRuns: 0,
          credentials: 0,
        },
      ],
    ]);
    // Nothing left to delete: nothing logged.
    expect(await retention.runOnce()).toEqual({ exchanges: 0, sessions: 0, probeRuns: 0, credentials: 0 });
    expect(logger.lines).toHaveLength(1);
  });

  it('a failing store is logged and tried again later, never thrown', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    await store.close();
    const logger = capture();
    const retention = startRetention({ store, retentionDays: 1, now: () => T, logger });
    cleanups.push(() => retention.stop());
    await expect(retention.runOnce()).resolves.toEqual({
      exchanges: 0,
      sessions: 0,
      probeRuns: 0,
      credentials: 0,
    });
    expect(logger.lines.map(([level, msg]) => [level, msg])).toEqual([
      ['warn', 'storage: pruning old observations failed; will try again'],
    ]);
  });

  it('serve with storage.retentionDays prunes the database at start; without it nothing is deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-retention-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'probe.db');
    const seed = openSqliteStore({ path });
    await seed.write([...old(4, 40), ...old(2, 2)]);
    await seed.close();
    const base = defaultConfig();
    const config = (retentionDays?: number): Config => ({
      ...base,
      upstreams: [upstreamConfig('linear', `http://127.0.0.1:${REFUSED_PORT}/mcp`)],
      server: { ...base.server, host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${path}`, retentionDays },
    });
    const count = async (s: { listExchanges: (q: object) => Promise<unknown[]> }) =>
      (await s.listExchanges({ upstream: 'linear', limit: 1000 })).length;

    const keep = await startServer({ config: config(), logger: silentLogger, now: () => T });
    expect(keep.retention).toBeNull();
    await new Promise((r) => setTimeout(r, 50));
    expect(await count(keep.store)).toBe(6);
    await keep.close();

    const pruning = await startServer({ config: config(30), logger: silentLogger, now: () => T });
    cleanups.push(() => pruning.close());
    expect(pruning.retention).not.toBeNull();
    const until = Date.now() + 5000;
    while ((await count(pruning.store)) !== 2 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10));
    expect(await count(pruning.store)).toBe(2);
  });
});
