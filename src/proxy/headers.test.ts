import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasToken, rawResponseHeadersForClient, requestHeadersForUpstream, trimOws } from './headers.js';

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
      'Content-Length',
      '12',
      'traceparent',
      '00-aa-bb-01',
    ]);
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

describe('hasToken and trimOws', () => {
  it('finds a token anywhere in a comma-separated list, whitespace around it allowed, never a part of one', () => {
    expect(hasToken('close', 'close')).toBe(true);
    expect(hasToken('keep-alive, close', 'close')).toBe(true);
    expect(hasToken(' close ,te', 'close')).toBe(true);
    expect(hasToken('gzip,\tchunked', 'chunked')).toBe(true);
    expect(hasToken('keep-alive', 'close')).toBe(false);
    expect(hasToken('closed, x-close', 'close')).toBe(false);
    expect(hasToken('', 'close')).toBe(false);
    expect(hasToken('xclose, close-ish, closer', 'close')).toBe(false);
    expect(hasToken('a,close', 'close')).toBe(true);
    expect(hasToken('close,', 'close')).toBe(true);
    expect(hasToken('x-close,\t close', 'close')).toBe(true);
    expect(hasToken('upgrade', 'close')).toBe(false);
  });

  it('agrees with splitting on commas and trimming spaces and tabs, for any value', () => {
    const reference = (value: string, token: string) =>
      value.split(',').some((t) => t.replace(/^[ \t]+|[ \t]+$/g, '') === token);
    const value = fc.string({
      unit: fc.constantFrom(' ', '\t', ',', 'c', 'l', 'o', 's', 'e', 'x'),
      maxLength: 24,
    });
    fc.assert(
      fc.property(value, fc.constantFrom('close', 'chunked', 'c'), (v, token) => {
        expect(hasToken(v, token)).toBe(reference(v, token));
      }),
      { numRuns: 5000 },
    );
  });

  it('trims spaces and tabs only, inside the given range', () => {
    expect(trimOws('X:  a b \t', 2, 9)).toBe('a b');
    expect(trimOws('X:\t\t', 2, 4)).toBe('');
    expect(trimOws('X: v\r\n', 2, 6)).toBe('v\r\n');
  });
});
