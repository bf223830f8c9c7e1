import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { hashSessionId } from '../security/hash.js';
import { readRequestEnvelope, readResponseEnvelope } from './jsonrpc.js';
import { type BeginExchange, SessionTracker } from './tracker.js';
import type { ExchangeRecord, Observation, SessionRecord } from './types.js';

const UP = 'up';

/** A tracker on a hand-driven clock, collecting what it emits. */
function harness(
  opts: {
    maxSessions?: number;
    evictIdleAfterMs?: number;
    onAdopt?: (key: string, r: SessionRecord) => void;
    recheckIdleAfterMs?: number;
  } = {},
) {
  let t = 1_000_000;
  const observations: Observation[] = [];
  const tracker = new SessionTracker({ onObservation: (o) => observations.push(o), now: () => t, ...opts });
  const exchanges = () =>
    observations.flatMap((o) => (o.type === 'exchange' ? [o.exchange] : ([] as ExchangeRecord[])));
  const sessions = () =>
    observations.flatMap((o) => (o.type === 'session' ? [o.session] : ([] as SessionRecord[])));
  let nextId = 1;

  const begin = (
    sessionId: string | null,
    body: string,
    httpMethod = 'POST',
    extra: Partial<BeginExchange> = {},
  ) =>
    tracker.begin({
      upstream: UP,
      transport: 'streamable-http',
      httpMethod,
      sessionId,
      request: readRequestEnvelope(body),
      ...extra,
    });

  /** initialize → 200 with a session id; `took` ms of round trip. */
  const initialize = (sid: string | null, took = 50) => {
    const id = nextId++;
    const h = begin(null, JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: {} }));
    t += took;
    h.headers(200, sid);
    h.message(readResponseEnvelope(JSON.stringify({ jsonrpc: '2.0', id, result: {} })));
    return h.finish();
  };

  /** A tools/list on a session answered with `status` (404 and friends carry no JSON-RPC answer). */
  const call = (sid: string | null, status = 200, took = 10) => {
    const h = start(sid);
    t += took;
    return end(h, status);
  };
  const start = (sid: string | null) => {
    const id = nextId++;
    const h = begin(sid, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' }));
    return Object.assign(h, { rpcNumber: id });
  };
  const end = (h: ReturnType<typeof start>, status = 200) => {
    h.headers(status, null);
    if (status === 200)
      h.message(readResponseEnvelope(JSON.stringify({ jsonrpc: '2.0', id: h.rpcNumber, result: {} })));
    return h.finish();
  };

  return {
    tracker,
    observations,
    exchanges,
    sessions,
    begin,
    initialize,
    call,
    start,
    end,
    advance: (ms: number) => {
      t += ms;
    },
    now: () => t,
  };
}

describe('SessionTracker: idle gap and age', () => {
  it('idle gap = start of the request − end of the last exchange; age = start − initialize start', () => {
    const h = harness();
    const opened = h.now();
    h.initialize('s1', 50);
    h.advance(1_000);
    const first = h.call('s1', 200, 10);
    expect(first.idleGapMs).toBe(1_000);
    expect(first.sessionAgeMs).toBe(1_050);
    expect(first.exchangesBefore).toBe(1);
    expect(first.sessionHash).toBe(hashSessionId('s1'));
    h.advance(2_500);
    const second = h.call('s1');
    expect(second.idleGapMs).toBe(2_500);
    expect(second.sessionAgeMs).toBe(h.now() - 10 - opened);
    expect(second.exchangesBefore).toBe(2);
  });

  it('the gap is 0 while another exchange on the session is in flight, and counts from the later end', () => {
    const h = harness();
    h.initialize('s1');
    h.advance(500);
    const slow = h.start('s1');
    h.advance(300);
    const overlapping = h.start('s1');
    expect(overlapping.record.idleGapMs).toBe(0);
    h.advance(100);
    h.end(overlapping);
    h.advance(100);
    h.end(slow); // ends at +200 after the overlapping one ended
    h.advance(700);
    expect(h.call('s1').idleGapMs).toBe(700);
  });

  it('initialize records init latency, opens the session at its start, and emits the session', () => {
    const h = harness();
    const startedAt = h.now();
    const init = h.initialize('s1', 120);
    expect(init.sessionHash).toBe(hashSessionId('s1'));
    expect(init.sessionAgeMs).toBe(0);
    const s = h.tracker.lookup(UP, 's1')!;
    expect(s).toMatchObject({ openedAt: startedAt, initLatencyMs: 120, adopted: false, exchanges: 1 });
    expect(h.sessions().at(-1)?.sessionHash).toBe(hashSessionId('s1'));
  });

  it('never stores the raw session id, only its hash', () => {
    const h = harness();
    const secret = 'sid-7f3c1e9b-raw-value';
    h.initialize(secret);
    h.advance(10);
    h.call(secret, 404);
    expect(JSON.stringify(h.observations)).not.toContain(secret);
  });
  it('error text echoing the session id or a secret is stored with the id hashed and the secret redacted', () => {
    const h = harness();
    const sid = 'sid-0f9e8d7c6b5a';
    h.initialize(sid);
    h.advance(10);
    const x = h.start(sid);
    x.headers(404, null);
    x.message(
      readResponseEnvelope(
        JSON.stringify({
          jsonrpc: '2.0',
          id: x.rpcNumber,
          error: { code: -32001, message: `Session ${sid} not found; api_key=k-123456789` },
        }),
      ),
    );
    const r = x.finish();
    expect(r.outcome).toBe('session_expired');
    expect(r.errorMessage).toContain(hashSessionId(sid));
    expect(r.errorMessage).not.toContain(sid);
    expect(r.errorMessage).not.toContain('k-123456789');
    const y = h.start(null);
    y.headers(401, null);
    expect(y.finish({ errorText: 'Unauthorized: Bearer abcdef0123456789abcdef' }).errorMessage).not.toContain(
      'abcdef0123456789abcdef',
    );
  });
});

describe('SessionTracker: lifecycle', () => {
  it('adopts an unknown session id with unknown age, gap and count, then measures gaps from first sight', () => {
    const h = harness();
    const adopted = h.call('restarted', 200, 10);
    expect(adopted).toMatchObject({ idleGapMs: null, sessionAgeMs: null, exchangesBefore: null });
    expect(h.tracker.lookup(UP, 'restarted')?.adopted).toBe(true);
    h.advance(400);
    const next = h.call('restarted');
    expect(next.idleGapMs).toBe(400);
    expect(next.sessionAgeMs).toBeNull();
  });

  it('restore: an adopted session goes on counting from what was stored before, for that adoption only', () => {
    const adoptions: Array<{ key: string; record: SessionRecord }> = [];
    const h = harness({ onAdopt: (key, record) => adoptions.push({ key, record }) });
    h.initialize('opened-here');
    expect(adoptions).toHaveLength(0);
    h.call('restarted');
    expect(adoptions).toHaveLength(1);
    const { key, record } = adoptions[0]!;
    expect(record).toMatchObject({ adopted: true, exchanges: 1 }); // the live record: the adopting call counted
    expect(key).toContain('restarted'); // in memory only: the raw id keys the tracker's map

    const before = h.observations.length;
    h.tracker.restore(key, { ...record }, { exchanges: 41 }); // not this adoption's record
    expect(h.observations).toHaveLength(before);

    h.tracker.restore(key, record, { exchanges: 41 });
    expect(h.sessions().at(-1)).toMatchObject({ adopted: true, exchanges: 42 });
    h.tracker.restore(key, record, { exchanges: 41 }); // once per adoption
    expect(h.sessions().at(-1)).toMatchObject({ exchanges: 42 });
    const next = h.call('restarted');
    expect(h.tracker.lookup(UP, 'restarted')?.exchanges).toBe(43);
    // Still adopted: its open was not seen here, so its age and position stay unknown.
    expect(next).toMatchObject({ sessionAgeMs: null, exchangesBefore: null });
  });

  it('restore: a session another process saw open gets its true first idle gap, age and position here', () => {
    const adoptions: Array<{ key: string; record: SessionRecord }> = [];
    const h = harness({ onAdopt: (key, record) => adoptions.push({ key, record }) });
    const t0 = h.now();
    h.advance(5_000);
    const first = h.call('moved'); // finished before the store answered: held back
    expect(h.exchanges().filter((x) => x === first)).toHaveLength(0);
    const { key, record } = adoptions[0]!;
    // The other replica opened it at t0 and last used it 1.5 s before this call, after 3 exchanges.
    h.tracker.restore(key, record, {
      exchanges: 3,
      openedAt: t0,
      adopted: false,
      lastActivityAt: t0 + 3_500,
    });
    expect(h.exchanges().at(-1)).toBe(first);
    expect(first).toMatchObject({ idleGapMs: 1_500, sessionAgeMs: 5_000, exchangesBefore: 3 });
    expect(h.sessions().at(-1)).toMatchObject({ openedAt: t0, exchanges: 4, adopted: true });
    h.advance(700);
    expect(h.call('moved')).toMatchObject({ idleGapMs: 700, sessionAgeMs: 5_710, exchangesBefore: 4 });
  });

  it('recheck (replicas): a session known here but idle follows the stored row when another replica moved it on', () => {
    const lookups: Array<{ key: string; record: SessionRecord }> = [];
    const h = harness({ onAdopt: (key, record) => lookups.push({ key, record }), recheckIdleAfterMs: 1_000 });
    const t0 = h.now();
    h.initialize('shared'); // opened here: exchanges 1, last activity t0 + 50
    h.call('shared'); // 10 ms later: not idle long enough, no lookup
    expect(lookups).toHaveLength(0);
    // Meanwhile three exchanges went to another replica, the last ending at t0 + 4000.
    h.advance(5_000);
    const next = h.call('shared');
    expect(lookups).toHaveLength(1);
    expect(h.exchanges().at(-1)).not.toBe(next); // held until the store answers
    const { key, record } = lookups[0]!;
    h.tracker.restore(key, record, {
      exchanges: 5,
      openedAt: t0,
      adopted: false,
      lastActivityAt: t0 + 4_000,
    });
    expect(h.exchanges().at(-1)).toBe(next);
    expect(next).toMatchObject({ idleGapMs: t0 + 5_060 - (t0 + 4_000), exchangesBefore: 5 });
    expect(h.tracker.lookup(UP, 'shared')).toMatchObject({ exchanges: 6, adopted: false });
    // The stored row is only this replica's own writing: nothing changes.
    const mineBefore = h.tracker.lookup(UP, 'shared')!.lastActivityAt;
    h.advance(2_000);
    const mine = h.call('shared');
    h.tracker.restore(lookups[1]!.key, lookups[1]!.record, { exchanges: 6, lastActivityAt: mineBefore });
    expect(mine).toMatchObject({ idleGapMs: 2_000, exchangesBefore: 6 });
    expect(h.tracker.lookup(UP, 'shared')).toMatchObject({ exchanges: 7 });
  });

  it('restore: with nothing stored (or no answer) the held exchanges go out as they were', () => {
    const adoptions: Array<{ key: string; record: SessionRecord }> = [];
    const h = harness({ onAdopt: (key, record) => adoptions.push({ key, record }) });
    const first = h.call('unknown');
    const { key, record } = adoptions[0]!;
    h.tracker.restore(key, record, null);
    expect(h.exchanges().at(-1)).toBe(first);
    expect(first).toMatchObject({ idleGapMs: null, sessionAgeMs: null });
    // At shutdown, adoptions still waiting are released too.
    const second = h.call('another');
    h.tracker.stop();
    expect(h.exchanges().at(-1)).toBe(second);
  });

  it('an upstream that issues no session id is stateless: its 404s are not expiry', () => {
    const h = harness();
    h.initialize(null);
    expect(h.tracker.isStateless(UP)).toBe(true);
    expect(h.observations).toContainEqual({ type: 'upstream-stateless', upstream: UP, stateless: true });
    const r = h.call('whatever', 404);
    expect(r.outcome).toBe('http_error');
  });

  it('a successful DELETE ends the session as deleted', () => {
    const h = harness();
    h.initialize('s1');
    const del = h.begin('s1', '', 'DELETE');
    del.headers(200, null);
    del.finish();
    expect(h.tracker.lookup(UP, 's1')).toBeUndefined();
    expect(h.sessions().at(-1)).toMatchObject({ endReason: 'deleted', endedAt: h.now() });
  });

  it('a 404 on a known session ends it as expired with the idle gap and age recorded', () => {
    const h = harness();
    h.initialize('s1', 50);
    h.advance(30_000);
    const r = h.call('s1', 404, 5);
    expect(r).toMatchObject({
      outcome: 'session_expired',
      confidence: 'spec',
      idleGapMs: 30_000,
      sessionAgeMs: 30_050,
    });
    expect(h.tracker.lookup(UP, 's1')).toBeUndefined();
    expect(h.sessions().at(-1)).toMatchObject({ endReason: 'expired' });
  });

  it('marks exchanges streamAttached when a GET stream was open during the idle period, and only then', () => {
    const h = harness();
    h.initialize('s1');
    expect(h.call('s1').streamAttached).toBe(false);
    const get = h.begin('s1', '', 'GET');
    get.headers(200, null);
    h.tracker.streamOpened(get);
    h.advance(1_000);
    const during = h.call('s1');
    expect(during.streamAttached).toBe(true);
    expect(during.idleGapMs).toBe(1_000); // a GET stream is not activity
    h.advance(100);
    get.finish();
    h.advance(100);
    // The stream was open for part of this idle period.
    expect(h.call('s1').streamAttached).toBe(true);
    h.advance(100);
    expect(h.call('s1').streamAttached).toBe(false);
  });

  it('a client that went away does not count as a session update', () => {
    const h = harness();
    h.initialize('s1');
    const before = h.sessions().length;
    const x = h.start('s1');
    x.finish({ clientAborted: true, aborted: true });
    expect(h.sessions().length).toBe(before);
    expect(h.exchanges().at(-1)?.httpStatus).toBeNull();
    // Not an upstream connection error: the exchange ended before its response.
    expect(h.exchanges().at(-1)?.outcome).toBe('stream_closed');
  });
});

describe('SessionTracker: bounded memory', () => {
  it('100,000 sessions seen stay under the cap, least recently active evicted first', () => {
    const h = harness({ maxSessions: 1_000 });
    for (let i = 0; i < 100_000; i++) h.initialize(`s${i}`, 1);
    expect(h.tracker.size).toBe(1_000);
    expect(h.tracker.evictions).toBe(99_000);
    expect(h.tracker.lookup(UP, 's99999')).toBeDefined();
    expect(h.tracker.lookup(UP, 's98999')).toBeUndefined();
  });

  it('never evicts a session with an exchange in flight', () => {
    const h = harness({ maxSessions: 10 });
    h.initialize('busy');
    const inFlight = h.start('busy');
    for (let i = 0; i < 100; i++) h.initialize(`s${i}`, 1);
    expect(h.tracker.lookup(UP, 'busy')).toBeDefined();
    h.end(inFlight);
    expect(h.tracker.size).toBeLessThanOrEqual(11);
  });

  it('sweeping forgets sessions idle past evictIdleAfterMs, not active ones', () => {
    const h = harness({ evictIdleAfterMs: 60_000 });
    h.initialize('old');
    h.advance(50_000);
    h.initialize('young');
    h.advance(20_000);
    h.tracker.sweep();
    expect(h.tracker.lookup(UP, 'old')).toBeUndefined();
    expect(h.tracker.lookup(UP, 'young')).toBeDefined();
  });

  it('an evicted session is reported as ended (evicted) at its last activity, once', () => {
    const h = harness({ evictIdleAfterMs: 60_000, maxSessions: 2 });
    h.initialize('idle');
    h.call('idle');
    const lastSeen = h.sessions().at(-1)!.lastActivityAt;
    h.advance(70_000);
    h.initialize('fresh');
    h.tracker.sweep();
    h.tracker.sweep();
    const ended = h.sessions().filter((x) => x.endedAt !== null);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({
      sessionHash: hashSessionId('idle'),
      endReason: 'evicted',
      endedAt: lastSeen,
      exchanges: 2,
    });
    // Past the cap: the least recently active goes, and says so too.
    h.initialize('a');
    h.initialize('b');
    expect(
      h
        .sessions()
        .filter((x) => x.endReason === 'evicted')
        .map((x) => x.sessionHash),
    ).toEqual([hashSessionId('idle'), hashSessionId('fresh')]);
  });

  it('memory per tracked session is small (< 1.5 KiB with 100,000 sessions)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Observations go nowhere here: only what the tracker itself keeps is measured.
    let t = 0;
    const tracker = new SessionTracker({ onObservation: () => {}, now: () => t });
    const envelope = readRequestEnvelope('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}');
    const answer = readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{}}');
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++) {
      const h = tracker.begin({
        upstream: UP,
        transport: 'streamable-http',
        httpMethod: 'POST',
        sessionId: null,
        request: envelope,
      });
      t += 1;
      // A realistic id: UUIDs are what the SDK issues.
      h.headers(200, `3f1c2a9e-8b7d-4e6f-a5c4-${String(i).padStart(12, '0')}`);
      h.message(answer);
      h.finish();
    }
    gc();
    const perSession = (process.memoryUsage().heapUsed - before) / tracker.size;
    expect(tracker.size).toBe(100_000);
    if (process.env.MCPPROBE_REPORT_MEMORY)
      process.stderr.write(`tracker: ${perSession.toFixed(0)} bytes per session\n`);
    expect(perSession).toBeLessThan(1536);
  });
});
