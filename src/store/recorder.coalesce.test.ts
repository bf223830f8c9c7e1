import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exchangeRecord } from '../../test/helpers/records.js';
import type { Observation, SessionRecord } from '../sessions/types.js';
import { createRecorder } from './recorder.js';
import { openSqliteStore } from './sqlite.js';
import type { ObservationStore } from './types.js';

function session(hash: string, exchanges: number, over: Partial<SessionRecord> = {}): Observation {
  return {
    type: 'session',
    session: {
      upstream: 'linear',
      source: 'proxy',
      sessionHash: hash,
      transport: 'streamable-http',
      openedAt: 1_700_000_000_000,
      adopted: false,
      initLatencyMs: 120,
      initializedAt: 1_700_000_000_200,
      protocolVersion: '2025-06-18',
      clientName: 'bench',
      clientVersion: '1',
      serverName: 'srv',
      serverVersion: '1',
      exchanges,
      lastActivityAt: 1_700_000_000_000 + exchanges,
      endedAt: null,
      endReason: null,
      ...over,
    },
  };
}

function exchange(hash: string, i: number): Observation {
  const x = exchangeRecord({
    sessionHash: hash,
    rpcMethod: 'ping',
    rpcId: String(i),
    startedAt: 1_700_000_000_000 + i,
    idleGapMs: 0,
    sessionAgeMs: i,
    exchangesBefore: i,
  });
  return { type: 'exchange', exchange: x };
}

/** A store that keeps every batch and can hold a write open until released. */
function capturingStore() {
  const batches: Observation[][] = [];
  let release: (() => void) | null = null;
  let hold = false;
  const store: Pick<ObservationStore, 'write'> = {
    async write(batch) {
      batches.push([...batch]);
      if (hold) await new Promise<void>((r) => (release = r));
    },
  };
  return {
    store,
    batches,
    holdNext: () => (hold = true),
    release: () => {
      hold = false;
      release?.();
    },
    sessionsWritten: () => batches.flat().flatMap((o) => (o.type === 'session' ? [o.session] : [])),
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A real SQLite store in a directory removed after the test. */
function tempStore() {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-coalesce-'));
  dirs.push(dir);
  return openSqliteStore({ path: join(dir, 'probe.db') });
}

describe('Recorder: session snapshots coalesce per session', () => {
  it('writes one session row per session per batch, the latest, and every exchange', async () => {
    const store = tempStore();
    const rec = createRecorder({ store, flushIntervalMs: 10_000 });
    for (let i = 1; i <= 50; i++) {
      for (const hash of ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']) {
        rec.record(exchange(hash, i));
        rec.record(session(hash, i));
      }
    }
    expect(rec.stats()).toMatchObject({ queued: 102, coalesced: 98 });
    await rec.flush();
    const rows = store.sqlite
      .prepare('SELECT session_hash, exchanges FROM sessions ORDER BY session_hash')
      .all();
    expect(rows).toEqual([
      { session_hash: 'aaaaaaaaaaaaaaaa', exchanges: 50 },
      { session_hash: 'bbbbbbbbbbbbbbbb', exchanges: 50 },
    ]);
    expect(store.sqlite.prepare('SELECT count(*) AS n FROM exchanges').get()).toEqual({ n: 100 });
    await rec.close();
    await store.close();
  });

  it('keeps the end of a session: the ended snapshot replaces the waiting one', async () => {
    const cap = capturingStore();
    const rec = createRecorder({ store: cap.store, flushIntervalMs: 10_000 });
    rec.record(session('aaaaaaaaaaaaaaaa', 3));
    rec.record(session('aaaaaaaaaaaaaaaa', 4, { endedAt: 1_700_000_009_000, endReason: 'deleted' }));
    await rec.flush();
    expect(cap.sessionsWritten()).toEqual([
      expect.objectContaining({ exchanges: 4, endReason: 'deleted', endedAt: 1_700_000_009_000 }),
    ]);
  });

  it('never replaces a snapshot in a batch being written: the newer one is written after it', async () => {
    const cap = capturingStore();
    const rec = createRecorder({ store: cap.store, flushIntervalMs: 10_000 });
    rec.record(session('aaaaaaaaaaaaaaaa', 1));
    cap.holdNext();
    const firstFlush = rec.flush();
    await new Promise((r) => setImmediate(r));
    expect(cap.batches).toHaveLength(1); // the write is in flight now
    rec.record(session('aaaaaaaaaaaaaaaa', 2));
    rec.record(session('aaaaaaaaaaaaaaaa', 3));
    expect(rec.stats()).toMatchObject({ coalesced: 1 });
    cap.release();
    await firstFlush;
    await rec.flush();
    expect(cap.sessionsWritten().map((s) => s.exchanges)).toEqual([1, 3]);
    expect(rec.stats()).toMatchObject({ queued: 0, written: 2, dropped: 0 });
  });

  it('does not coalesce different sessions, sources or upstreams', async () => {
    const cap = capturingStore();
    const rec = createRecorder({ store: cap.store, flushIntervalMs: 10_000 });
    rec.record(session('aaaaaaaaaaaaaaaa', 1));
    rec.record(session('aaaaaaaaaaaaaaaa', 1, { source: 'probe' }));
    rec.record(session('aaaaaaaaaaaaaaaa', 1, { upstream: 'slack' }));
    rec.record(session('bbbbbbbbbbbbbbbb', 1));
    await rec.flush();
    expect(cap.sessionsWritten()).toHaveLength(4);
    expect(rec.stats().coalesced).toBe(0);
  });

  it('two sessions sharing a hash on different upstreams, interleaved: each one ends at its latest', async () => {
    const store = tempStore();
    const rec = createRecorder({ store, flushIntervalMs: 10_000 });
    for (let i = 1; i <= 5; i++) {
      rec.record(session('aaaaaaaaaaaaaaaa', i));
      rec.record(session('aaaaaaaaaaaaaaaa', i * 10, { upstream: 'slack' }));
    }
    await rec.flush();
    const rows = store.sqlite.prepare('SELECT upstream, exchanges FROM sessions ORDER BY upstream').all();
    expect(rows).toEqual([
      { upstream: 'linear', exchanges: 5 },
      { upstream: 'slack', exchanges: 50 },
    ]);
    await rec.close();
    await store.close();
  });
});
