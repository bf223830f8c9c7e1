import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Classification,
  classifyOutcome,
  type ExchangeFacts,
  looksLikeSessionError,
} from './classify.js';
import { OUTCOMES } from './types.js';

// The session-error phrases docs/design.md lists, as servers actually send them.
const SESSION_PHRASES = [
  'Bad Request: No valid session ID provided',
  'Session not found',
  'No transport found for sessionId abc',
  'Invalid or expired session',
  'Session terminated',
  'Bad Request: Server not initialized',
];
const OTHER_TEXTS = [null, '', 'Unauthorized: token expired', 'Internal error', 'Too many open sessions'];
const STATUSES = [
  null,
  200,
  201,
  202,
  204,
  299,
  301,
  304,
  400,
  401,
  403,
  404,
  405,
  409,
  429,
  500,
  502,
  503,
  504,
];
const RPC_CODES = [null, -32601, -32600, -32000, -32001];

/**
 * docs/contract.md's outcome table written out row by row, independently of the
 * implementation's branch order, so the exhaustive sweep below compares two readings.
 */
function fromDesignTable(f: ExchangeFacts): Classification {
  const none = (outcome: Classification['outcome']): Classification => ({ outcome, confidence: null });
  if (f.connectionFailed || f.httpStatus === null) return none('connection_error');
  if (f.timedOut) return none('timeout');
  const s = f.httpStatus;
  // "A 404 from a stateless upstream ... is never session_expired"; neither is anything without a session id.
  const sessionAware = f.carriedSessionId && f.upstreamStateless !== true;
  const sessionPhrase = SESSION_PHRASES.includes(f.errorText ?? '');
  if (s >= 200 && s < 300) {
    if (f.rpcError) {
      return sessionAware && sessionPhrase
        ? { outcome: 'session_expired', confidence: 'heuristic' }
        : none('rpc_error');
    }
    return f.streamEndedEarly && f.expectsResponse ? none('stream_closed') : none('ok');
  }
  // "a 404 with JSON-RPC code -32601 (method not found) is never session_expired".
  if (s === 404 && sessionAware && f.rpcErrorCode !== -32601)
    return { outcome: 'session_expired', confidence: 'spec' };
  if ((s === 400 || s === 401) && sessionAware && sessionPhrase) {
    return { outcome: 'session_expired', confidence: 'heuristic' };
  }
  if (s === 401 || s === 403) return none('auth');
  if (s === 429) return none('rate_limited');
  if (s === 503) return none('capacity');
  return none('http_error');
}

function* allFacts(): Generator<ExchangeFacts> {
  const bools = [false, true];
  for (const httpStatus of STATUSES)
    for (const carriedSessionId of bools)
      for (const upstreamStateless of bools)
        for (const rpcError of bools)
          for (const rpcErrorCode of RPC_CODES)
            for (const errorText of [...SESSION_PHRASES, ...OTHER_TEXTS])
              for (const streamEndedEarly of bools)
                for (const expectsResponse of bools)
                  yield {
                    httpStatus,
                    carriedSessionId,
                    upstreamStateless,
                    rpcError,
                    rpcErrorCode,
                    errorText,
                    streamEndedEarly,
                    expectsResponse,
                  };
}

describe('classifyOutcome', () => {
  it('agrees with the docs/design.md table on every status class × session id × stateless × rpc error × phrase × code', () => {
    let n = 0;
    for (const facts of allFacts()) {
      expect(classifyOutcome(facts), JSON.stringify(facts)).toEqual(fromDesignTable(facts));
      n++;
    }
    expect(n).toBe(
      STATUSES.length * 2 ** 5 * RPC_CODES.length * (SESSION_PHRASES.length + OTHER_TEXTS.length),
    );
  });

  it('a timeout or connection failure wins over any status', () => {
    for (const httpStatus of STATUSES) {
      expect(classifyOutcome({ httpStatus, carriedSessionId: true, timedOut: true }).outcome).toBe('timeout');
      expect(classifyOutcome({ httpStatus, carriedSessionId: true, connectionFailed: true }).outcome).toBe(
        'connection_error',
      );
    }
  });

  it.each([
    [{ httpStatus: 404, carriedSessionId: true }, 'session_expired', 'spec'],
    [{ httpStatus: 404, carriedSessionId: false }, 'http_error', null],
    [{ httpStatus: 404, carriedSessionId: true, upstreamStateless: true }, 'http_error', null],
    [{ httpStatus: 404, carriedSessionId: true, rpcErrorCode: -32601 }, 'http_error', null],
    [
      { httpStatus: 400, carriedSessionId: true, errorText: 'Bad Request: No valid session ID provided' },
      'session_expired',
      'heuristic',
    ],
    [
      { httpStatus: 400, carriedSessionId: true, errorText: 'Bad Request: invalid params' },
      'http_error',
      null,
    ],
    [
      { httpStatus: 401, carriedSessionId: true, errorText: 'Invalid or expired session' },
      'session_expired',
      'heuristic',
    ],
    [{ httpStatus: 401, carriedSessionId: true, errorText: 'invalid token' }, 'auth', null],
    [{ httpStatus: 403, carriedSessionId: true, errorText: 'Session not found' }, 'auth', null],
    [
      { httpStatus: 200, carriedSessionId: true, rpcError: true, errorText: 'Session not found' },
      'session_expired',
      'heuristic',
    ],
    [
      { httpStatus: 200, carriedSessionId: false, rpcError: true, errorText: 'Session not found' },
      'rpc_error',
      null,
    ],
    [
      { httpStatus: 200, carriedSessionId: true, streamEndedEarly: true, expectsResponse: true },
      'stream_closed',
      null,
    ],
    [{ httpStatus: 200, carriedSessionId: true, streamEndedEarly: true, expectsResponse: false }, 'ok', null],
    [{ httpStatus: 429, carriedSessionId: true }, 'rate_limited', null],
    [{ httpStatus: 503, carriedSessionId: true, errorText: 'Too many open sessions' }, 'capacity', null],
    [{ httpStatus: null, carriedSessionId: true }, 'connection_error', null],
  ] as const)('%o → %s', (facts, outcome, confidence) => {
    expect(classifyOutcome(facts)).toEqual({ outcome, confidence });
  });

  it('never throws and always answers a contract label; confidence only on session_expired', () => {
    const facts = fc.record(
      {
        httpStatus: fc.option(fc.integer({ min: -1, max: 1000 }), { nil: null }),
        carriedSessionId: fc.boolean(),
        upstreamStateless: fc.boolean(),
        rpcError: fc.boolean(),
        rpcErrorCode: fc.option(fc.integer(), { nil: null }),
        errorText: fc.option(fc.string(), { nil: null }),
        timedOut: fc.boolean(),
        connectionFailed: fc.boolean(),
        streamEndedEarly: fc.boolean(),
        expectsResponse: fc.boolean(),
      },
      { requiredKeys: ['httpStatus', 'carriedSessionId'] },
    );
    fc.assert(
      fc.property(facts, (f) => {
        const c = classifyOutcome(f);
        expect(OUTCOMES).toContain(c.outcome);
        expect(c.confidence !== null).toBe(c.outcome === 'session_expired');
        // Without a session id (or on a stateless upstream) nothing is ever an expiry.
        if (!f.carriedSessionId || f.upstreamStateless) expect(c.outcome).not.toBe('session_expired');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('looksLikeSessionError', () => {
  it.each(SESSION_PHRASES)('recognises %j in any case', (text) => {
    expect(looksLikeSessionError(text)).toBe(true);
    expect(looksLikeSessionError(text.toUpperCase())).toBe(true);
  });

  it.each([
    'Unauthorized',
    'rate limit exceeded',
    'Method not found',
    'session',
    '',
    null,
    undefined,
  ])('does not mistake %j for a session error', (text) => {
    expect(looksLikeSessionError(text)).toBe(false);
  });

  it('is linear on long hostile text (no catastrophic backtracking)', () => {
    const hostile = `${'session '.repeat(20_000)}id ${'x'.repeat(100_000)}`;
    const t0 = performance.now();
    looksLikeSessionError(hostile);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
