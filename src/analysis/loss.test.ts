import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateLifetime, type LifetimeExchange } from './lifetime.js';
import { classifyLosses, countLosses, type LossExchange } from './loss.js';

type Row = LossExchange & LifetimeExchange & { startedAt: number };

const row = (over: Partial<Row> & { startedAt: number }): Row => ({
  upstream: 'u',
  source: 'proxy',
  sessionHash: 's1',
  outcome: 'ok',
  httpMethod: 'POST',
  httpStatus: 200,
  transport: 'streamable-http',
  idleGapMs: 0,
  sessionAgeMs: over.startedAt,
  streamAttached: false,
  errorMessage: null,
  endedAt: over.startedAt + 10,
  ...over,
});
const expired = (startedAt: number, over: Partial<Row> = {}) =>
  row({ startedAt, outcome: 'session_expired', httpStatus: 404, ...over });

describe('classifyLosses', () => {
  it('an upstream restart: a refused connection between the last answer and the session error', () => {
    const rows = [
      row({ startedAt: 0 }),
      row({ startedAt: 2000, idleGapMs: 1990 }),
      // server down: the next call is refused (recorded on the same session, no status)
      row({ startedAt: 3000, outcome: 'connection_error', httpStatus: null, idleGapMs: 990 }),
      expired(4000, { idleGapMs: 990 }),
    ];
    const losses = classifyLosses(rows);
    expect([...losses.values()]).toEqual(['upstream_restart']);
    expect(losses.get(rows[3]!)).toBe('upstream_restart');
  });

  it('a refused connection on another session of the same upstream counts; one on another upstream does not', () => {
    const rows = [
      row({ startedAt: 0 }),
      row({ startedAt: 500, sessionHash: 's2', outcome: 'connection_error', httpStatus: null }),
      row({
        startedAt: 600,
        upstream: 'other',
        sessionHash: 'o',
        outcome: 'connection_error',
        httpStatus: null,
      }),
      expired(1000, { idleGapMs: 990 }),
    ];
    expect(classifyLosses(rows).get(rows[3]!)).toBe('upstream_restart');
    expect(classifyLosses([rows[0]!, rows[2]!, rows[3]!]).size).toBe(0);
  });

  it('a refused connection before the last answer says nothing about this loss: plain expiry', () => {
    const rows = [
      row({ startedAt: 0, sessionHash: 's2', outcome: 'connection_error', httpStatus: null }),
      row({ startedAt: 100 }),
      expired(5000, { idleGapMs: 4890 }),
    ];
    expect(classifyLosses(rows).size).toBe(0);
  });

  it('a client reusing a session it DELETEd', () => {
    const rows = [
      row({ startedAt: 0 }),
      row({ startedAt: 100, httpMethod: 'DELETE', httpStatus: 200 }),
      expired(200, { idleGapMs: null, sessionAgeMs: null }),
    ];
    expect(classifyLosses(rows).get(rows[2]!)).toBe('client_deleted');
    // A refused DELETE did not end the session.
    const refused = [rows[0]!, { ...rows[1]!, httpStatus: 405 }, rows[2]!];
    expect(classifyLosses(refused).size).toBe(0);
  });

  it('a legacy SSE stream cut by a socket error, not one the upstream closed', () => {
    const broken = expired(1000, {
      transport: 'sse',
      httpMethod: 'GET',
      httpStatus: null,
      errorMessage: 'legacy SSE stream broke: ECONNRESET',
    });
    const closed = { ...broken, errorMessage: 'legacy SSE stream closed by the upstream' };
    expect(classifyLosses([broken]).get(broken)).toBe('stream_broken');
    expect(classifyLosses([closed]).size).toBe(0);
  });

  it('counts every cause', () => {
    const rows = [row({ startedAt: 0 }), row({ startedAt: 100, httpMethod: 'DELETE' }), expired(200)];
    expect(countLosses(classifyLosses(rows))).toEqual({
      upstream_restart: 0,
      stream_broken: 0,
      client_deleted: 1,
    });
  });
});

describe('losses and the lifetime estimate', () => {
  it('an upstream restart leaves the idle window as it was', () => {
    const before = [
      row({ startedAt: 0 }),
      row({ startedAt: 2000, idleGapMs: 1990 }),
      row({ startedAt: 6000, idleGapMs: 3990 }),
    ];
    const restart = [
      row({ startedAt: 7000, outcome: 'connection_error', httpStatus: null, idleGapMs: 990 }),
      expired(7500, { idleGapMs: 490 }),
    ];
    const a = estimateLifetime(before, []);
    const b = estimateLifetime([...before, ...restart], []);
    expect(b.idle).toEqual(a.idle);
    expect(b.losses).toEqual({ upstream_restart: 1, stream_broken: 0, client_deleted: 0 });
  });

  it('property: adding losses never changes the idle window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.boolean()), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 5 }),
        (points, deletedGaps) => {
          let t = 0;
          const base: Row[] = points.map(([gap, x], i) => {
            t += gap + 20;
            return x
              ? expired(t, { sessionHash: `p${i}`, idleGapMs: gap })
              : row({ startedAt: t, sessionHash: `p${i}`, idleGapMs: gap });
          });
          // Each DELETE is itself an answered request (a survival); the reuse after it is the loss.
          const deletes = deletedGaps.map((_, i) =>
            row({ startedAt: t + 100 + i * 30, sessionHash: `d${i}`, httpMethod: 'DELETE' }),
          );
          const reuses = deletedGaps.map((gap, i) =>
            expired(t + 120 + i * 30 + gap, { sessionHash: `d${i}`, idleGapMs: gap }),
          );
          const withLosses = estimateLifetime([...base, ...deletes, ...reuses], []);
          expect(withLosses.idle).toEqual(estimateLifetime([...base, ...deletes], []).idle);
          expect(withLosses.losses.client_deleted).toBe(deletedGaps.length);
        },
      ),
    );
  });
});
