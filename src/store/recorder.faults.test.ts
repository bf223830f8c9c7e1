// The recorder under store faults: recovery time, what it keeps, what it holds in memory, and
// the order in which a session's count and its exchange rows reach the store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { exchangeRecord } from '../../test/helpers/records.js';
import { session } from '../../test/helpers/storeFixtures.js';
import type { Observation } from '../sessions/types.js';
import { createRecorder } from './recorder.js';
import { openSqliteStore } from './sqlite.js';
import type { ObservationStore } from './types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function exchange(session: string, i: number, text = ''): Observation {
  return {
    type: 'exchange',
    exchange: exchangeRecord({
      sessionHash: session,
      rpcMethod: 'ping',
      rpcId: String(i),
      errorMessage: text,
    }),
  };
}

function snapshot(sessionHash: string, exchanges: number): Observation {
  return {
    type: 'session',
    session: session({ sessionHash, openedAt: 1, exchanges, lastActivityAt: exchanges }),
  };
}

describe('recovery', () => {
  it('resumes within about a second of a 2.6 s write lock ending, dropping nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-recovery-'));
    dirs.push(dir);
    const store = openSqliteStore({ path: join(dir, 'probe.db'), busyTimeoutMs: 0 });
    // The backoff's default cap is what this checks. From 10 ms, a backoff that doubled without
    // a cap (or up to 30 s) would next retry 5.1 s in, 2.5 s after the lock ends.
    const rec = createRecorder({ store, flushIntervalMs: 10 });
    const other = new Database(store.path);
    other.exec('BEGIN IMMEDIATE');
    const lockedUntil = Date.now() + 2600;
    let i = 0;
    // Observations keep arriving for the whole lock, as they do in a running proxy.
    while (Date.now() < lockedUntil) {
      rec.record(exchange('s', i++));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(rec.stats()).toMatchObject({ written: 0, failing: true, dropped: 0 });
    other.exec('COMMIT');
    const unlockedAt = Date.now();
    other.close();
    await vi.waitFor(() => expect(rec.stats().written).toBe(i), { timeout: 3000, interval: 10 });
    const resumedAfterMs = Date.now() - unlockedAt;
    // The backoff is capped at 1 s; the rest is a loaded machine's slack.
    expect(resumedAfterMs).toBeLessThan(1600);
    expect(rec.stats()).toMatchObject({ queued: 0, dropped: 0, failing: false });
    await rec.close();
    await store.close();
  });
});

describe('memory while the store fails', () => {
  it('drops the references of the observations it drops (the queue holds maxQueue, no more)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const failing: Pick<ObservationStore, 'write'> = {
      async write() {
        throw new Error('disk I/O error');
      },
    };
    const maxQueue = 2000;
    const rec = createRecorder({ store: failing, maxQueue, flushIntervalMs: 1 });
    const refs: Array<WeakRef<object>> = [];
    // Ten times the queue, with a write attempt in between now and then.
    for (let i = 0; i < maxQueue * 10; i++) {
      const obs = exchange('s', i, 'x'.repeat(200));
      if (i < maxQueue * 9 && i % 97 === 0) refs.push(new WeakRef(obs));
      rec.record(obs);
      if (i % 1000 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    expect(rec.stats()).toMatchObject({ queued: maxQueue, dropped: maxQueue * 9, written: 0 });
    await new Promise((r) => setTimeout(r, 10));
    gc();
    gc();
    // Every one of these was dropped: none may still be reachable from the queue.
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
    await rec.close();
  });
});

describe('a session count never ahead of its rows', () => {
  it('in every committed prefix, for any batch size and interleaving of sessions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 9 }),
        async (sessionOfEach, maxBatch) => {
          const committed: Observation[] = [];
          const violations: string[] = [];
          const store: Pick<ObservationStore, 'write'> = {
            async write(batch) {
              committed.push(...batch);
              // After each transaction: each session's stored count <= its stored rows.
              const rows = new Map<string, number>();
              const counts = new Map<string, number>();
              for (const o of committed) {
                if (o.type === 'exchange') {
                  const s = o.exchange.sessionHash!;
                  rows.set(s, (rows.get(s) ?? 0) + 1);
                } else if (o.type === 'session') counts.set(o.session.sessionHash, o.session.exchanges);
              }
              for (const [s, n] of counts)
                if (n > (rows.get(s) ?? 0)) violations.push(`${s}: ${n} > ${rows.get(s)}`);
            },
          };
          const rec = createRecorder({ store, maxBatch, flushIntervalMs: 1000 });
          const seen = new Map<string, number>();
          // The tracker's order: the exchange, then the snapshot that counts it.
          for (const [i, n] of sessionOfEach.entries()) {
            const s = `s${n}`;
            seen.set(s, (seen.get(s) ?? 0) + 1);
            rec.record(exchange(s, i));
            rec.record(snapshot(s, seen.get(s)!));
            // Now and then a batch goes out in the middle of the stream.
            if (i % 7 === 3) await rec.flush();
          }
          await rec.close();
          expect(violations).toEqual([]);
          // And at the end every count is exact.
          const last = new Map<string, number>();
          for (const o of committed)
            if (o.type === 'session') last.set(o.session.sessionHash, o.session.exchanges);
          expect(Object.fromEntries(last)).toEqual(Object.fromEntries(seen));
        },
      ),
      { numRuns: 200 },
    );
  });
});
