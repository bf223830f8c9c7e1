import { describe, expect, it } from 'vitest';
import { eraOfVersion, requestEra } from './era.js';
import { readAnsweredVersions, readRequestEnvelope, readResponseEnvelope } from './jsonrpc.js';
import { SessionTracker } from './tracker.js';
import type { ExchangeRecord, Observation } from './types.js';

const META = 'io.modelcontextprotocol/protocolVersion';
const modern = (id: number, method: string, params: Record<string, unknown> = {}) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: { [META]: '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
  });

function harness() {
  let t = 1_000_000;
  const observations: Observation[] = [];
  const tracker = new SessionTracker({ onObservation: (o) => observations.push(o), now: () => t });
  const exchanges = () =>
    observations.flatMap((o) => (o.type === 'exchange' ? [o.exchange] : ([] as ExchangeRecord[])));
  const begin = (
    body: string,
    opts: { sessionId?: string | null; header?: string | null; httpMethod?: string } = {},
  ) =>
    tracker.begin({
      upstream: 'up',
      transport: 'streamable-http',
      httpMethod: opts.httpMethod ?? 'POST',
      sessionId: opts.sessionId ?? null,
      request: readRequestEnvelope(body),
      protocolVersion: opts.header ?? null,
    });
  return { tracker, exchanges, begin, tick: (ms: number) => (t += ms) };
}

describe('requestEra', () => {
  const env = (body: string) => readRequestEnvelope(body);
  const facts = (body: string, over: Partial<Parameters<typeof requestEra>[0]> = {}) =>
    requestEra({ httpMethod: 'POST', sessionId: null, headerVersion: null, request: env(body), ...over });

  it('reads the 2026 envelope claim first, as the SDK routes it', () => {
    expect(facts(modern(1, 'tools/list'))).toBe('2026');
    expect(facts(modern(1, 'initialize'))).toBe('2026'); // a valid modern claim overrides `initialize`
    const legacyClaim = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'x',
      params: { _meta: { [META]: '2025-11-25' } },
    });
    expect(facts(legacyClaim)).toBe('2025');
  });

  it('calls initialize, session ids, GET/DELETE, batches and pre-2026 headers the 2025 era', () => {
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25' },
    });
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(facts(init)).toBe('2025');
    expect(facts(list, { sessionId: 's' })).toBe('2025');
    expect(facts('', { httpMethod: 'GET' })).toBe('2025');
    expect(facts(`[${list},${list}]`)).toBe('2025');
    expect(facts(list, { headerVersion: '2025-06-18' })).toBe('2025');
    expect(facts(list, { headerVersion: '2026-07-28' })).toBe('2026');
    expect(facts(list)).toBeNull();
  });

  it('orders revisions by date', () => {
    expect(eraOfVersion('2025-11-25')).toBe('2025');
    expect(eraOfVersion('2026-07-28')).toBe('2026');
    expect(eraOfVersion('2027-01-01')).toBe('2026');
  });
});

describe('readAnsweredVersions', () => {
  it('reads initialize, server/discover and -32022 answers', () => {
    expect(
      readAnsweredVersions('{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}'),
    ).toEqual(['2025-11-25']);
    expect(
      readAnsweredVersions(
        '{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2026-07-28","2025-11-25"]}}',
      ),
    ).toEqual(['2026-07-28', '2025-11-25']);
    expect(
      readAnsweredVersions(
        '{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"x","data":{"supported":["2026-07-28"],"requested":"1"}}}',
      ),
    ).toEqual(['2026-07-28']);
    expect(readAnsweredVersions('not json')).toEqual([]);
  });
});

describe('SessionTracker and the sessionless era', () => {
  it('records a 2026 exchange without a session, idle gap or age, with its versions', () => {
    const h = harness();
    const x = h.begin(modern(1, 'server/discover'), { header: '2026-07-28' });
    h.tick(12);
    x.headers(200, null);
    const answer =
      '{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2026-07-28","2025-11-25"],"capabilities":{}}}';
    x.message(readResponseEnvelope(answer), answer);
    const r = x.finish();
    expect(r).toMatchObject({
      era: '2026',
      protocolVersion: '2026-07-28',
      upstreamVersions: '2026-07-28,2025-11-25',
      sessionHash: null,
      idleGapMs: null,
      sessionAgeMs: null,
      outcome: 'ok',
    });
    expect(h.tracker.size).toBe(0);
  });

  it('counts a -32022 refusal with the supported list, and never as a session error', () => {
    const h = harness();
    const x = h.begin(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25' },
      }),
    );
    x.headers(400, null);
    const answer =
      '{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported","data":{"supported":["2026-07-28"]}}}';
    x.message(readResponseEnvelope(answer), answer);
    const r = x.finish();
    expect(r).toMatchObject({
      era: '2025',
      outcome: 'http_error',
      rpcErrorCode: -32022,
      upstreamVersions: '2026-07-28',
    });
    expect(h.tracker.isStateless('up')).toBe(false);
  });

  it('ends a listen stream its client closed as ok, and one the upstream cut as stream_closed', () => {
    const h = harness();
    const listen = modern(7, 'subscriptions/listen', { notifications: { toolsListChanged: true } });
    const byClient = h.begin(listen);
    byClient.headers(200, null);
    const ack =
      '{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"notifications":{}}}';
    byClient.message(readResponseEnvelope(ack), ack);
    h.tick(2_000);
    expect(
      byClient.finish({ clientAborted: true, aborted: true, errorText: 'client disconnected' }),
    ).toMatchObject({
      outcome: 'ok',
      errorMessage: null,
      responseAt: null,
    });

    const byUpstream = h.begin(listen);
    byUpstream.headers(200, null);
    h.tick(1_000);
    expect(byUpstream.finish({ aborted: true, errorText: 'socket hang up' }).outcome).toBe('stream_closed');

    // Any other request whose client hangs up is still stream_closed.
    const other = h.begin(modern(8, 'tools/call', { name: 'slow' }));
    other.headers(200, null);
    expect(other.finish({ clientAborted: true, aborted: true }).outcome).toBe('stream_closed');
  });

  it('keeps 2025 sessions as before, era 2025 with the negotiated version answered', () => {
    const h = harness();
    const init = h.begin(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25' },
      }),
    );
    init.headers(200, 'sid-1');
    const answer =
      '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"s","version":"1"}}}';
    init.message(readResponseEnvelope(answer), answer);
    expect(init.finish()).toMatchObject({ era: '2025', upstreamVersions: '2025-06-18' });
    h.tick(500);
    const call = h.begin(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), {
      sessionId: 'sid-1',
    });
    call.headers(200, null);
    expect(call.finish()).toMatchObject({ era: '2025', idleGapMs: 500 });
  });
});
