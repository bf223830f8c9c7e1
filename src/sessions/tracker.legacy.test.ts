// The tracker's legacy HTTP+SSE additions: the session opens with its stream, POSTs are
// answered on the stream, and the stream's end (by the upstream) is the session's expiry.
import { describe, expect, it } from 'vitest';
import { hashSessionId } from '../security/hash.js';
import { readRequestEnvelope, readResponseEnvelope } from './jsonrpc.js';
import { SessionTracker } from './tracker.js';
import type { ExchangeRecord, Observation, SessionRecord } from './types.js';

const ENDPOINT = '/messages?sessionId=abc';

function setup() {
  let t = 1_000;
  const observations: Observation[] = [];
  const tracker = new SessionTracker({ onObservation: (o) => observations.push(o), now: () => t });
  const advance = (ms: number) => {
    t += ms;
  };
  const exchanges = () =>
    observations.flatMap((o) => (o.type === 'exchange' ? [o.exchange] : [])) as ExchangeRecord[];
  const lastSession = () =>
    observations.flatMap((o) => (o.type === 'session' ? [o.session] : [])).at(-1) as SessionRecord;
  return { tracker, advance, exchanges, lastSession, observations };
}

function post(tracker: SessionTracker, body: object, sessionId = ENDPOINT, adopt = false) {
  return tracker.begin({
    upstream: 'legacy',
    transport: 'sse',
    httpMethod: 'POST',
    sessionId,
    request: readRequestEnvelope(JSON.stringify(body)),
    adopt,
  });
}

const initialize = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2024-11-05', clientInfo: { name: 'c', version: '1' } },
};
const initResult = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  result: { protocolVersion: '2024-11-05', serverInfo: { name: 'srv', version: '2' } },
});

describe('SessionTracker: legacy HTTP+SSE sessions', () => {
  it('opens the session with the stream and learns the handshake from the response on the stream', () => {
    const { tracker, advance, lastSession, exchanges } = setup();
    const opened = tracker.openStreamSession({ upstream: 'legacy', sessionId: ENDPOINT, openedAt: 900 });
    expect(opened).toMatchObject({
      transport: 'sse',
      openedAt: 900,
      adopted: false,
      sessionHash: hashSessionId(ENDPOINT),
    });

    const h = post(tracker, initialize);
    advance(5);
    h.headers(202, null);
    advance(30); // the response arrives on the stream later
    h.initializeResultText = initResult;
    h.message(readResponseEnvelope(initResult));
    h.finish();

    const s = lastSession();
    expect(s.initLatencyMs).toBe(35);
    expect(s.serverName).toBe('srv');
    expect(s.protocolVersion).toBe('2024-11-05');
    expect(s.exchanges).toBe(1);
    const [e] = exchanges();
    expect(e).toMatchObject({
      outcome: 'ok',
      idleGapMs: 100,
      sessionAgeMs: 100,
      streamAttached: true,
      responseAt: 1_035,
    });
    expect(tracker.isStateless('legacy')).toBe(false);
  });

  it('the upstream ending the stream is the expiry, with the idle gap since the last exchange ended', () => {
    const { tracker, advance, exchanges, lastSession } = setup();
    tracker.openStreamSession({ upstream: 'legacy', sessionId: ENDPOINT, openedAt: 1_000 });
    const h = post(tracker, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    h.headers(202, null);
    advance(10);
    h.message(readResponseEnvelope('{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'));
    h.finish();
    advance(2_000);
    const expiry = tracker.endStreamSession('legacy', ENDPOINT, 'upstream');

    expect(expiry).toMatchObject({
      outcome: 'session_expired',
      confidence: 'spec',
      httpMethod: 'GET',
      idleGapMs: 2_000,
      sessionAgeMs: 2_010,
      exchangesBefore: 1,
      streamAttached: true,
      startedAt: 3_010,
    });
    expect(exchanges().at(-1)).toBe(expiry);
    expect(lastSession()).toMatchObject({ endReason: 'expired', endedAt: 3_010 });
    expect(tracker.size).toBe(0);
    // Once over, the stream's end is not counted twice.
    expect(tracker.endStreamSession('legacy', ENDPOINT, 'upstream')).toBeNull();
  });

  it('a request still in flight when the stream ends makes the gap 0 and ends as stream_closed', () => {
    const { tracker, advance, exchanges } = setup();
    tracker.openStreamSession({ upstream: 'legacy', sessionId: ENDPOINT, openedAt: 1_000 });
    const h = post(tracker, { jsonrpc: '2.0', id: 7, method: 'tools/list' });
    h.headers(202, null);
    advance(500);
    expect(tracker.endStreamSession('legacy', ENDPOINT, 'upstream')?.idleGapMs).toBe(0);
    h.finish({ responseStreamEnded: true, errorText: 'stream closed before the response arrived' });
    expect(exchanges().at(-1)).toMatchObject({ rpcId: '7', outcome: 'stream_closed' });
  });

  it('the client closing its stream ends the session without an expiry', () => {
    const { tracker, exchanges, lastSession } = setup();
    tracker.openStreamSession({ upstream: 'legacy', sessionId: ENDPOINT, openedAt: 1_000 });
    expect(tracker.endStreamSession('legacy', ENDPOINT, 'client')).toBeNull();
    expect(exchanges()).toHaveLength(0);
    expect(lastSession().endReason).toBe('stream_closed');
  });

  it('a POST answered 404 while the stream is open is the expiry; the later stream end is not another', () => {
    const { tracker, advance, exchanges } = setup();
    tracker.openStreamSession({ upstream: 'legacy', sessionId: ENDPOINT, openedAt: 1_000 });
    advance(4_000);
    const h = post(tracker, { jsonrpc: '2.0', id: 2, method: 'ping' });
    h.headers(404, null);
    h.finish({ errorText: 'Session not found' });
    expect(exchanges().at(-1)).toMatchObject({
      outcome: 'session_expired',
      confidence: 'spec',
      idleGapMs: 4_000,
    });
    expect(tracker.endStreamSession('legacy', ENDPOINT, 'upstream')).toBeNull();
    expect(exchanges().filter((e) => e.outcome === 'session_expired')).toHaveLength(1);
  });

  it('with adopt: false a POST for a session already over invents no session but keeps its hash', () => {
    const { tracker, observations } = setup();
    const h = post(tracker, { jsonrpc: '2.0', id: 3, method: 'ping' }, '/messages?sessionId=gone', false);
    h.headers(400, null);
    h.finish({ errorText: 'No transport found for sessionId' });
    expect(observations.filter((o) => o.type === 'session')).toHaveLength(0);
    expect(tracker.size).toBe(0);
    expect(h.record).toMatchObject({
      sessionHash: hashSessionId('/messages?sessionId=gone'),
      outcome: 'session_expired',
      confidence: 'heuristic',
      idleGapMs: null,
    });
  });
});
