import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  displayUrl,
  isSensitiveField,
  isSensitiveHeader,
  REDACTED,
  redactHeaders,
  redactJson,
  redactText,
  redactUrl,
} from './redact.js';

describe('isSensitiveHeader', () => {
  it.each([
    'Authorization',
    'proxy-authorization',
    'Cookie',
    'Set-Cookie',
    'X-Api-Key',
    'Mcp-Session-Id',
    'X-Linear-Token',
    'X-Client-Secret',
    'X-Auth-User',
    'X-Atlassian-Session',
    'X-Password',
    'X-Credentials',
    'X-Hub-Signature-256',
    'Idempotency-Key',
  ])('%s is sensitive', (name) => {
    expect(isSensitiveHeader(name)).toBe(true);
  });

  it.each([
    'Accept',
    'Content-Type',
    'Mcp-Protocol-Version',
    'Last-Event-ID',
    'User-Agent',
    'Keep-Alive',
  ])('%s is not', (name) => {
    expect(isSensitiveHeader(name)).toBe(false);
  });
});

describe('isSensitiveField', () => {
  it.each([
    'password',
    'access_token',
    'refreshToken',
    'apiKey',
    'api-key',
    'client_secret',
    'sessionId',
    'key',
  ])('%s is sensitive', (name) => expect(isSensitiveField(name)).toBe(true));
  it.each(['author', 'keywords', 'name', 'method', 'code', 'message'])('%s is not', (name) =>
    expect(isSensitiveField(name)).toBe(false));
});

describe('redactHeaders', () => {
  it('replaces sensitive values, keeps the rest and the names as given', () => {
    expect(
      redactHeaders({
        Authorization: 'Bearer abc',
        'mcp-session-id': 'f0e1d2',
        Accept: 'application/json, text/event-stream',
        'Set-Cookie': ['a=1', 'b=2'],
        'Content-Length': 12,
        'X-Missing': undefined,
      }),
    ).toEqual({
      Authorization: REDACTED,
      'mcp-session-id': REDACTED,
      Accept: 'application/json, text/event-stream',
      'Set-Cookie': REDACTED,
      'Content-Length': '12',
    });
  });

  it('takes a Headers object and entry lists', () => {
    const headers = new Headers({ Authorization: 'Bearer abc', 'Content-Type': 'application/json' });
    expect(redactHeaders(headers)).toEqual({ authorization: REDACTED, 'content-type': 'application/json' });
    expect(redactHeaders([['X-Api-Key', 'k']])).toEqual({ 'X-Api-Key': REDACTED });
  });

  it('redacts tokens inside harmless-looking headers', () => {
    expect(redactHeaders({ Referer: 'https://app.example/cb?code=1&access_token=abc' })).toEqual({
      Referer: `https://app.example/cb?code=1&access_token=${REDACTED}`,
    });
  });
});

describe('redactUrl', () => {
  it('keeps scheme, host, port and path; drops userinfo, query and fragment', () => {
    expect(redactUrl('https://user:pw@mcp.example.com:8443/v1/mcp?api_key=abc&x=1#frag')).toBe(
      'https://mcp.example.com:8443/v1/mcp',
    );
    expect(redactUrl(new URL('http://localhost:3000/sse'))).toBe('http://localhost:3000/sse');
    expect(redactUrl('https://mcp.linear.app/mcp')).toBe('https://mcp.linear.app/mcp');
  });

  it('redacts path segments that are credentials', () => {
    expect(redactUrl('https://actions.zapier.com/mcp/sk-ak-0123456789abcdefABCDEF/sse')).toBe(
      `https://actions.zapier.com/mcp/${REDACTED}/sse`,
    );
    expect(redactUrl('https://x.example/s/0123456789abcdef0123456789abcdef/mcp')).toBe(
      `https://x.example/s/${REDACTED}/mcp`,
    );
  });

  it('still cuts the query of something that is not a URL', () => {
    expect(redactUrl('/mcp/linear?token=abc')).toBe('/mcp/linear');
  });

  it('displayUrl is the same form', () => {
    expect(displayUrl('https://u:p@h.example/mcp?k=v')).toBe('https://h.example/mcp');
  });
});

describe('redactText', () => {
  it.each([
    ['Authorization: Bearer abc.def-ghi', `Authorization: ${REDACTED}`],
    ['sent bearer abc123', `sent bearer ${REDACTED}`],
    ['GET /x?token=abc&page=2', `GET /x?token=${REDACTED}&page=2`],
    ['api_key=XYZ', `api_key=${REDACTED}`],
    ['{"password":"hunter 2","user":"bob"}', `{"password":"${REDACTED}","user":"bob"}`],
    ["{'client_secret': 'abc'}", `{'client_secret': '${REDACTED}'}`],
    ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl end', `jwt ${REDACTED} end`],
    ['key sk-proj-abcdefghijklmnop1234', `key ${REDACTED}`],
    ['hex 0123456789abcdef0123456789abcdef!', `hex ${REDACTED}!`],
    ['b64 QmFzZTY0U2VjcmV0VmFsdWUxMjM0NTY3ODkwYWJj=', `b64 ${REDACTED}`],
    ['postgres://probe:s3cret@db:5432/x', `postgres://${REDACTED}@db:5432/x`],
    // A stray quote before the JSON ends a quoted value at the key's opening quote
    // (found by the property below, seed 386389322).
    ['A:" {"password": "AAAAAA"}', `A:" {"password": "${REDACTED}"}`],
    ["x=' {'api_key': 'abcdef'}", `x=' {'api_key': '${REDACTED}'}`],
  ])('%s', (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it('leaves ordinary text, numbers under token-ish names, and JSON-RPC errors alone', () => {
    const text =
      '{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null} maxTokens: 100 /usr/local/lib/node_modules/vitest/dist/index.js handleStreamableHttpRequestForUpstream';
    expect(redactText(text)).toBe(text);
  });

  it('caps the length and says so', () => {
    const text = 'lorem '.repeat(1000);
    expect(redactText(text, { maxLength: 100 })).toBe(`${text.slice(0, 100)}…[truncated, 6000 chars]`);
    expect(redactText('x'.repeat(300), { maxLength: 100 })).toBe(`${'x'.repeat(100)}…[truncated, 300 chars]`);
    expect(redactText('short', { maxLength: 100 })).toBe('short');
  });

  it('does not leak a secret split by the cut of very long input', () => {
    const secret = 'sk-' + 'Ab3'.repeat(10);
    const text = 'x '.repeat(600) + secret + ' tail'.repeat(1000);
    const cut = 1200 + 20; // inside the secret
    const out = redactText(text, { maxLength: cut - 1024 + 20 });
    expect(out).not.toContain(secret.slice(0, 12));
  });
});

describe('redactJson', () => {
  it('replaces sensitive fields deeply and redacts other strings', () => {
    expect(
      redactJson({
        params: { name: 'search', arguments: { apiKey: 'abc', query: 'q', maxTokens: 100 } },
        auth: { access_token: 'tok', expires_in: 3600 },
        note: 'Bearer xyz',
        list: [{ password: 'p' }],
      }),
    ).toEqual({
      params: { name: 'search', arguments: { apiKey: REDACTED, query: 'q', maxTokens: 100 } },
      auth: REDACTED,
      note: `Bearer ${REDACTED}`,
      list: [{ password: REDACTED }],
    });
  });
});

// ---------------------------------------------------------------- property: planted secrets never survive

const alnum = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
const hexChar = fc.constantFrom(...'0123456789abcdef');
const b64urlChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
const b64Char = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const chars = (char: fc.Arbitrary<string>, minLength: number, maxLength: number) =>
  fc.array(char, { minLength, maxLength }).map((list) => list.join(''));

// Random keys contain a digit (and base64 ones both cases); the generators guarantee it (`A1b` prefix)
// rather than rely on chance, as `looksRandom` documents.
const secrets = fc.oneof(
  chars(hexChar, 31, 63).map((s) => `7${s}`),
  chars(b64urlChar, 29, 60).map((s) => `A1b${s}`),
  chars(b64Char, 29, 60).map((s) => `A1b${s}==`),
  chars(alnum, 20, 48).map((s) => `sk-${s}`),
  fc
    .tuple(chars(b64urlChar, 8, 40), chars(b64urlChar, 8, 80), chars(b64urlChar, 8, 43))
    .map(([h, p, s]) => `eyJ${h}.eyJ${p}.${s}`),
);
// Short, low-entropy secrets are only recognisable by their context.
const shortSecrets = chars(alnum, 6, 31);

// Any text, and text made mostly of the characters that open and close quoted values
// and pairs (a stray quote before a JSON key once hid the key from NAMED_VALUE).
const punctuation = fc.constantFrom('"', "'", ':', '=', ' ', '{', '\\', '?', '&', '@', '/', 'A', 'b');
const filler = fc
  .oneof(fc.string({ maxLength: 40 }), chars(punctuation, 0, 40))
  .map((s) => s.replace(/[A-Za-z0-9+/_=-]+$/, ''));
const delimiter = fc.constantFrom(' ', '\n', '"', "'", ',', ';', '(', ')', '<', '>', '\t');

describe('property: planted secrets never survive', () => {
  it('bare secrets in text', () => {
    fc.assert(
      fc.property(filler, delimiter, secrets, delimiter, filler, (before, open, secret, close, after) => {
        const out = redactText(`${before}${open}${secret}${close}${after}`);
        expect(out).not.toContain(secret);
      }),
      { numRuns: 500 },
    );
  });

  it('any secret after Bearer, token=, api_key= or in a JSON password field', () => {
    const contexts = fc.constantFrom(
      (s: string) => `Authorization: Bearer ${s}`,
      (s: string) => `bearer ${s}`,
      (s: string) => `https://h.example/cb?token=${s}&x=1`,
      (s: string) => `api_key=${s}`,
      (s: string) => `{"password": "${s}"}`,
      (s: string) => `{"access_token":"${s}","token_type":"bearer"}`,
      (s: string) => `redirect=https://h/?apiKey=${s}`,
      (s: string) => `https://probe:${s}@db.example/x`,
    );
    fc.assert(
      fc.property(filler, contexts, fc.oneof(secrets, shortSecrets), (before, plant, secret) => {
        const out = redactText(`${before} ${plant(secret)}`);
        expect(out).not.toContain(secret);
      }),
      { numRuns: 500 },
    );
  });

  it('headers: under any sensitive name, or bare in any header', () => {
    const sensitiveName = fc.constantFrom(
      'Authorization',
      'Cookie',
      'X-Api-Key',
      'X-Linear-Token',
      'Mcp-Session-Id',
      'X-Client-Secret',
    );
    fc.assert(
      fc.property(
        sensitiveName,
        fc.oneof(secrets, shortSecrets),
        fc.constantFrom('Referer', 'X-Trace', 'Accept'),
        secrets,
        (name, secret, plainName, bare) => {
          const out = JSON.stringify(redactHeaders({ [name]: secret, [plainName]: `v ${bare} v` }));
          expect(out).not.toContain(secret);
          expect(out).not.toContain(bare);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('urls: userinfo, query and credential path segments', () => {
    fc.assert(
      fc.property(
        fc.oneof(secrets, shortSecrets),
        fc.oneof(secrets, shortSecrets),
        secrets.map((s) => s.replace(/[/+=]/g, '')).filter((s) => s.length >= 32),
        (user, query, segment) => {
          const url = `https://u:${encodeURIComponent(user)}@mcp.example.com/mcp/${segment}/sse?q=${encodeURIComponent(query)}`;
          const out = redactUrl(url);
          expect(out.startsWith('https://mcp.example.com/mcp/')).toBe(true);
          for (const secret of [user, query, segment]) expect(out).not.toContain(secret);
        },
      ),
      { numRuns: 300 },
    );
  });
});
