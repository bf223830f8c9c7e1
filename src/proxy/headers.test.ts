import { describe, expect, it } from 'vitest';
import { rawResponseHeadersForClient, requestHeadersForUpstream } from './headers.js';

const raw = (...pairs: string[]) => pairs.map((s) => Buffer.from(s, 'latin1'));

describe('requestHeadersForUpstream', () => {
  it('drops hop-by-hop headers and those the Connection header names, keeps case and order', () => {
    const f = requestHeadersForUpstream([
      'Host',
      'proxy:1',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      'gone',
      'Mcp-Session-Id',
      'abc',
      'Authorization',
      'Bearer t',
      'Content-Length',
      '12',
      'traceparent',
      '00-aa-bb-01',
    ]);
    expect(f.headers).toEqual([
      'Mcp-Session-Id',
      'abc',
      'Authorization',
      'Bearer t',
      'traceparent',
      '00-aa-bb-01',
    ]);
    // The length is read (for the early 413) but never forwarded: undici frames the body it sends.
    expect(f).toMatchObject({
      sessionId: 'abc',
      authorization: 'Bearer t',
      contentLength: 12,
      traceparent: '00-aa-bb-01',
    });
  });
});

describe('rawResponseHeadersForClient', () => {
  it('keeps end-to-end headers byte for byte, repeats included, and picks out session id and type', () => {
    const r = rawResponseHeadersForClient(
      raw(
        'Content-Type',
        'text/event-stream',
        'Mcp-Session-Id',
        'S1',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'Transfer-Encoding',
        'chunked',
        'Keep-Alive',
        'timeout=5',
        'X-Name',
        'caf\u00e9',
      ),
    );
    expect(r.headers).toEqual([
      'Content-Type',
      'text/event-stream',
      'Mcp-Session-Id',
      'S1',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Name',
      'caf\u00e9',
    ]);
    // latin1 in, latin1 out (what Node writes): the byte 0xE9 is unchanged.
    expect(Buffer.from(r.headers[9]!, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(r.sessionId).toBe('S1');
    expect(r.contentType).toBe('text/event-stream');
  });

  it('never passes the framing on: a length only when the answer was framed by one length alone', () => {
    const byLength = rawResponseHeadersForClient(
      raw('Content-Length', '5', 'Content-Type', 'application/json'),
    );
    expect(byLength.headers).toEqual(['Content-Type', 'application/json']);
    expect(byLength.contentLength).toBe('5');
    // Both framings (the response-splitting shape), TE identity beside a length, or lengths that disagree:
    // no length for the client, which then gets the proxy's own chunked framing.
    for (const shape of [
      raw('Content-Length', '5', 'Transfer-Encoding', 'chunked'),
      raw('Transfer-Encoding', 'identity', 'Content-Length', '5'),
      raw('Content-Length', '5', 'Content-Length', '6'),
      raw('Content-Length', '5, 5'),
      raw('Content-Length', '-1'),
    ]) {
      const r = rawResponseHeadersForClient(shape);
      expect(r.headers).toEqual([]);
      expect(r.contentLength).toBeNull();
    }
    expect(rawResponseHeadersForClient(raw('Content-Length', '7', 'content-length', '7')).contentLength).toBe(
      '7',
    );
  });

  it('drops headers named by Connection, across repeated Connection headers', () => {
    const r = rawResponseHeadersForClient(
      raw('Connection', 'X-A', 'X-A', '1', 'connection', 'mcp-session-id', 'Mcp-Session-Id', 'S', 'X-B', '2'),
    );
    expect(r.headers).toEqual(['X-B', '2']);
    expect(r.sessionId).toBeNull();
  });

  it("takes the strings undici's request gives with responseHeaders: 'raw' (legacy SSE) alike", () => {
    const r = rawResponseHeadersForClient([
      'Content-Type',
      'text/event-stream',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'Connection',
      'X-Hop',
      'X-Hop',
      '1',
    ]);
    expect(r.headers).toEqual([
      'Content-Type',
      'text/event-stream',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
    ]);
    expect(r.contentType).toBe('text/event-stream');
  });

  it('plain keep-alive or close name no header', () => {
    const r = rawResponseHeadersForClient(
      raw('Connection', 'keep-alive', 'Content-Type', 'application/json'),
    );
    expect(r.headers).toEqual(['Content-Type', 'application/json']);
    expect(r.contentType).toBe('application/json');
    expect(r.sessionId).toBeNull();
  });
});
