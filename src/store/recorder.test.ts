import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exchangeRecord } from '../../test/helpers/records.js';
import type { ExchangeRecord, Observation } from '../sessions/types.js';
import { createRecorder, type Logger } from './recorder.js';
import { openSqliteStore, type SqliteObservationStore } from './sqlite.js';
import type { ObservationStore } from './types.js';

function exchange(i: number, over: Partial<ExchangeRecord> = {}): Observation {
  return {
    type: 'exchange',
    exchange: exchangeRecord({
      rpcMethod: 'ping',
      rpcId: String(i),
      startedAt: 1_700_000_000_000 + i,
      ...over,
    }),
  };
}

function recordingLogger() {
  const lines: { level: 'warn' | 'info'; msg: string; fields?: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
  };
  return { logger, lines, warns: () => lines.filter((l) => l.level === 'warn') };
}

/** Wraps a store to count transactions and to fail on demand. */
function instrumented(inner: Pick<ObservationStore, 'write'>) {
  const state = { writes: 0, batchSizes: [] as number[], fail: null as Error | null };
  const store: Pick<ObservationStore, 'write'> = {
    async write(batch) {
      if (state.fail) throw state.fail;
      state.writes += 1;
      state.batchSizes.push(batch.length);
      await inner.write(batch);
    },
  };
  return { store, state };
}

const rpcIds = async (store: SqliteObservationStore) =>
  (await store.listExchanges({ limit: 10_000 })).map((e) => Number(e.rpcId));

let dir: string;
let sqlite: SqliteObservationStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-probe-recorder-'));
  sqlite = openSqliteStore({ path: join(dir, 'probe.db'), busyTimeoutMs: 0 });
});

afterEach(async () => {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('batching', () => {
  it('record() is synchronous and never touches the store', () => {
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 1000 });
    for (let i = 0; i < 100; i++) rec.record(exchange(i));
    expect(state.writes).toBe(0);
    expect(rec.stats()).toMatchObject({ queued: 100, written: 0 });
  });

  it('writes many records in few transactions, in order', async () => {
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 5, maxBatch: 1000 });
    for (let i = 0; i < 2500; i++) rec.record(exchange(i));
    await rec.flush();
    expect(state.batchSizes).toEqual([1000, 1000, 500]);
    expect(rec.stats()).toMatchObject({ queued: 0, written: 2500, dropped: 0, failures: 0 });
    expect(await rpcIds(sqlite)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
  });

  it('flushes on its own timer', async () => {
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 5 });
    for (let i = 0; i < 50; i++) rec.record(exchange(i));
    await vi.waitFor(() => expect(rec.stats().written).toBe(50), { timeout: 2000, interval: 5 });
    expect(state.writes).toBe(1);
    await rec.close();
  });

  it('keeps writing back to back while more than one batch is queued', async () => {
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 5, maxBatch: 10 });
    for (let i = 0; i < 95; i++) rec.record(exchange(i));
    await vi.waitFor(() => expect(rec.stats().written).toBe(95), { timeout: 2000, interval: 5 });
    expect(state.batchSizes).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
    await rec.close();
  });
});

describe('a failing SQLite store (real errors)', () => {
  it('read-only at runtime: keeps records, logs once per burst, resumes after recovery', async () => {
    const log = recordingLogger();
    const rec = createRecorder({ store: sqlite, flushIntervalMs: 5, logger: log.logger });
    rec.record(exchange(0));
    await rec.flush();

    sqlite.sqlite.pragma('query_only = ON');
    for (let i = 1; i <= 3; i++) {
      expect(() => rec.record(exchange(i))).not.toThrow();
      await rec.flush();
    }
    const failing = rec.stats();
    expect(failing).toMatchObject({ queued: 3, written: 1, dropped: 0, failures: 3, failing: true });
    expect(failing.lastError).toMatch(/SQLITE_READONLY/);
    expect(log.warns()).toHaveLength(1);
    expect(log.warns()[0]!.msg).toMatch(/store write failed/);

    sqlite.sqlite.pragma('query_only = OFF');
    await rec.flush();
    expect(rec.stats()).toMatchObject({ queued: 0, written: 4, failing: false });
    expect(log.lines.filter((l) => l.level === 'info')).toHaveLength(1);
    expect(log.lines.at(-1)!.msg).toMatch(/recovered/);
    expect(await rpcIds(sqlite)).toEqual([0, 1, 2, 3]);

    // A second burst logs again, once.
    sqlite.sqlite.pragma('query_only = ON');
    rec.record(exchange(4));
    await rec.flush();
    await rec.flush();
    expect(log.warns()).toHaveLength(2);
    sqlite.sqlite.pragma('query_only = OFF');
    await rec.close();
    expect(await rpcIds(sqlite)).toEqual([0, 1, 2, 3, 4]);
  });

  it('locked by another process: retries on its own timer with backoff and catches up', async () => {
    const log = recordingLogger();
    const rec = createRecorder({ store: sqlite, flushIntervalMs: 2, maxBackoffMs: 20, logger: log.logger });
    const other = new Database(sqlite.path);
    other.exec('BEGIN IMMEDIATE');
    try {
      for (let i = 0; i < 20; i++) rec.record(exchange(i));
      await vi.waitFor(() => expect(rec.stats().failures).toBeGreaterThanOrEqual(3), {
        timeout: 2000,
        interval: 2,
      });
      expect(rec.stats().lastError).toMatch(/SQLITE_BUSY|locked/);
      expect(rec.stats().queued).toBe(20);
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    await vi.waitFor(() => expect(rec.stats().written).toBe(20), { timeout: 2000, interval: 2 });
    expect(log.warns()).toHaveLength(1);
    expect(log.lines.at(-1)!.msg).toMatch(/recovered/);
    expect(await rpcIds(sqlite)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await rec.close();
  });

  it('disk full: bounded queue drops the oldest and counts them', async () => {
    const log = recordingLogger();
    const rec = createRecorder({ store: sqlite, flushIntervalMs: 5, maxQueue: 50, logger: log.logger });
    const pages = sqlite.sqlite.pragma('page_count', { simple: true }) as number;
    sqlite.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    sqlite.sqlite.pragma(`max_page_count = ${pages}`);
    // Big enough that no batch fits in the pages the database already has.
    const big = 'x'.repeat(8000);
    for (let i = 0; i < 80; i++) rec.record(exchange(i, { errorMessage: big }));
    await rec.flush();
    expect(rec.stats()).toMatchObject({ queued: 50, dropped: 30, written: 0, failing: true });
    expect(rec.stats().lastError).toMatch(/SQLITE_FULL/);
    expect(log.warns()).toHaveLength(1);

    sqlite.sqlite.pragma('max_page_count = 1073741823');
    await rec.close();
    expect(rec.stats()).toMatchObject({ queued: 0, written: 50, dropped: 30 });
    expect(await rpcIds(sqlite)).toEqual(Array.from({ length: 50 }, (_, i) => 30 + i));
  });

  it('closed database: failures counted, nothing thrown from record', async () => {
    const rec = createRecorder({ store: sqlite, flushIntervalMs: 5 });
    await sqlite.close();
    expect(() => rec.record(exchange(1))).not.toThrow();
    await rec.flush();
    expect(rec.stats()).toMatchObject({ queued: 1, failures: 1, failing: true });
    expect(rec.stats().lastError).toMatch(/closed/);
  });
});

describe('failure handling', () => {
  it('beyond maxQueue drops the oldest that is not in a write in flight', async () => {
    let release!: () => void;
    const written: Observation[] = [];
    let calls = 0;
    const store: Pick<ObservationStore, 'write'> = {
      async write(batch) {
        calls += 1;
        if (calls === 1) await new Promise<void>((r) => (release = r));
        written.push(...batch);
      },
    };
    const rec = createRecorder({ store, flushIntervalMs: 1000, maxBatch: 4, maxQueue: 6 });
    for (let i = 0; i < 6; i++) rec.record(exchange(i));
    const first = rec.flush();
    await vi.waitFor(() => expect(calls).toBe(1));
    // Batch [0..3] is in flight; 4 and 5, the oldest waiting, fall out of the queue while it is.
    rec.record(exchange(6));
    rec.record(exchange(7));
    release();
    await first;
    expect(rec.stats()).toMatchObject({ queued: 0, dropped: 2, written: 6 });
    // The in-flight batch was written in full; what is counted dropped was never written.
    const ids = written.map((o) => (o.type === 'exchange' ? Number(o.exchange.rpcId) : -1));
    expect(ids).toEqual([0, 1, 2, 3, 6, 7]);
  });

  it('a store that throws for a while: no throw, retries, resumes', async () => {
    const log = recordingLogger();
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 2, maxBackoffMs: 10, logger: log.logger });
    state.fail = new Error('connection reset');
    for (let i = 0; i < 10; i++) rec.record(exchange(i));
    await vi.waitFor(() => expect(rec.stats().failures).toBeGreaterThanOrEqual(3), { interval: 2 });
    expect(log.warns()).toHaveLength(1);
    state.fail = null;
    await vi.waitFor(() => expect(rec.stats().written).toBe(10), { interval: 2 });
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    await rec.close();
  });

  it('drops only the observations the store rejects as invalid, not the whole queue', async () => {
    const log = recordingLogger();
    const rec = createRecorder({ store: sqlite, flushIntervalMs: 5, logger: log.logger });
    rec.record(exchange(0));
    rec.record(exchange(1, { outcome: null as unknown as 'ok' }));
    rec.record(exchange(2));
    await rec.flush();
    expect(rec.stats()).toMatchObject({ queued: 0, written: 2, dropped: 1, failing: false });
    expect(log.warns()).toHaveLength(1);
    expect(log.warns()[0]!.msg).toMatch(/rejected/);
    expect(await rpcIds(sqlite)).toEqual([0, 2]);
  });
});

describe('close', () => {
  it('flushes what is queued, stops the timer and drops later records', async () => {
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) rec.record(exchange(i));
    await rec.close();
    expect(rec.stats()).toMatchObject({ queued: 0, written: 5 });
    rec.record(exchange(99));
    expect(rec.stats()).toMatchObject({ queued: 0, dropped: 1 });
    expect(state.writes).toBe(1);
    expect(await rpcIds(sqlite)).toEqual([0, 1, 2, 3, 4]);
  });

  it('logs what it could not write', async () => {
    const log = recordingLogger();
    const { store, state } = instrumented(sqlite);
    const rec = createRecorder({ store, flushIntervalMs: 5, logger: log.logger });
    state.fail = new Error('disk I/O error');
    rec.record(exchange(0));
    await rec.close();
    expect(log.warns().at(-1)).toMatchObject({ fields: { unwritten: 1 } });
  });
});
