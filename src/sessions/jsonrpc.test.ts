import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ResponseEnvelope,
  readInitializeResult,
  readRequestEnvelope,
  readResponseEnvelope,
  readResponseEnvelopeBytes,
} from './jsonrpc.js';

/** What a full JSON.parse says the envelope is: the reference the fast scanner must agree with. */
function referenceEnvelope(text: string): ResponseEnvelope {
  const none: ResponseEnvelope = {
    id: null,
    method: null,
    isResponse: false,
    hasError: false,
    errorCode: null,
    errorMessage: null,
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return none;
  }
  const one = (m: unknown): ResponseEnvelope => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return none;
    const msg = m as Record<string, unknown>;
    const id = typeof msg.id === 'string' ? msg.id : typeof msg.id === 'number' ? String(msg.id) : null;
    const method = typeof msg.method === 'string' ? msg.method : null;
    const hasError = Object.hasOwn(msg, 'error');
    const err =
      msg.error !== null && typeof msg.error === 'object' ? (msg.error as Record<string, unknown>) : null;
    return {
      id,
      method,
      isResponse: method === null && (Object.hasOwn(msg, 'result') || hasError),
      hasError,
      errorCode: err && !Array.isArray(err) && typeof err.code === 'number' ? err.code : null,
      errorMessage: err && !Array.isArray(err) && typeof err.message === 'string' ? err.message : null,
    };
  };
  if (!Array.isArray(parsed)) return one(parsed);
  let first: ResponseEnvelope | null = null;
  for (const m of parsed) {
    const env = one(m);
    if (env.hasError) return env;
    first ??= env;
  }
  return first ?? none;
}

const anyId = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.jsonValue());

/** JSON-RPC shaped messages whose members hold arbitrary JSON, in any member order. */
const message = fc
  .record(
    {
      jsonrpc: fc.constant('2.0'),
      id: anyId,
      method: fc.oneof(fc.string(), fc.constantFrom('tools/list', 'notifications/progress'), fc.jsonValue()),
      result: fc.jsonValue(),
      error: fc.oneof(
        fc.record({
          code: fc.oneof(fc.integer(), fc.jsonValue()),
          message: fc.oneof(fc.string(), fc.jsonValue()),
        }),
        fc.jsonValue(),
      ),
      params: fc.jsonValue(),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .chain((m) =>
    fc.shuffledSubarray(Object.entries(m), { minLength: Object.keys(m).length }).map(Object.fromEntries),
  );

/** Serialised compactly, pretty, or with odd (legal) whitespace. */
const serialised = (value: fc.Arbitrary<unknown>) =>
  fc.tuple(value, fc.constantFrom(0, 2, '\t', ' \r\n')).map(([v, indent]) => JSON.stringify(v, null, indent));

describe('readResponseEnvelope', () => {
  it('agrees with a JSON.parse reference on JSON-RPC messages carrying arbitrary JSON', () => {
    fc.assert(
      fc.property(serialised(message), (text) => {
        expect(readResponseEnvelope(text)).toEqual(referenceEnvelope(text));
      }),
      { numRuns: 1500 },
    );
  });

  it('agrees on batches and on arbitrary JSON values', () => {
    fc.assert(
      fc.property(serialised(fc.oneof(fc.array(message, { maxLength: 4 }), fc.jsonValue())), (text) => {
        expect(readResponseEnvelope(text)).toEqual(referenceEnvelope(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees when the message is surrounded by whitespace', () => {
    fc.assert(
      fc.property(message, fc.constantFrom('', ' ', '\n', '\r\n\t '), (m, ws) => {
        const text = `${ws}${JSON.stringify(m)}${ws}`;
        expect(readResponseEnvelope(text)).toEqual(referenceEnvelope(text));
      }),
    );
  });

  it('never throws on arbitrary strings, truncations and mutations of real messages', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        readResponseEnvelope(text);
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(
        message.map((m) => JSON.stringify(m)),
        fc.nat(),
        fc.string({ maxLength: 3 }),
        (text, at, junk) => {
          const cut = at % (text.length + 1);
          readResponseEnvelope(text.slice(0, cut));
          readResponseEnvelope(text.slice(0, cut) + junk + text.slice(cut));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it.each([
    [
      '{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a\\"}"}]}}',
      { id: '7', isResponse: true, hasError: false },
    ],
    [
      '{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found"}}',
      { id: 'x', isResponse: true, hasError: true, errorCode: -32601, errorMessage: 'Method not found' },
    ],
    [
      '{"jsonrpc":"2.0","method":"notifications/progress","params":{}}',
      { method: 'notifications/progress', isResponse: false },
    ],
    ['{"jsonrpc":"2.0","id":1,"method":"ping"}', { id: '1', method: 'ping', isResponse: false }],
    ['not json', { isResponse: false, id: null }],
    ['', { isResponse: false, id: null }],
  ])('%s', (text, expected) => {
    expect(readResponseEnvelope(text)).toMatchObject(expected);
  });

  it('a batch answer reports its first error', () => {
    const env = readResponseEnvelope(
      '[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"boom"}}]',
    );
    expect(env).toMatchObject({ id: '2', hasError: true, errorCode: -32000, errorMessage: 'boom' });
  });
});

describe('readResponseEnvelopeBytes', () => {
  /** The bytes reader on `bytes`, also placed between unrelated bytes and given its range, against the text reader on the decoded text. */
  function agrees(
    bytes: Uint8Array,
    before: Uint8Array = new Uint8Array(0),
    after: Uint8Array = new Uint8Array(0),
  ) {
    const expected = readResponseEnvelope(Buffer.from(bytes).toString('utf8'));
    expect(readResponseEnvelopeBytes(bytes)).toEqual(expected);
    const framed = Buffer.concat([before, bytes, after]);
    expect(readResponseEnvelopeBytes(framed, before.length, before.length + bytes.length)).toEqual(expected);
  }
  const junk = fc.uint8Array({ maxLength: 8 });

  it('answers what the text reader answers on JSON-RPC messages, batches and arbitrary JSON', () => {
    fc.assert(
      fc.property(
        serialised(fc.oneof(message, fc.array(message, { maxLength: 3 }), fc.jsonValue())),
        junk,
        junk,
        (text, before, after) => agrees(Buffer.from(text, 'utf8'), before, after),
      ),
      { numRuns: 1500 },
    );
  });

  it('answers what the text reader answers on arbitrary bytes, truncations and mutations, invalid UTF-8 included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), junk, junk, (bytes, before, after) =>
        agrees(bytes, before, after),
      ),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(
        message.map((m) => Buffer.from(JSON.stringify(m), 'utf8')),
        fc.nat(),
        fc.uint8Array({ maxLength: 3 }),
        junk,
        (bytes, at, insert, after) => {
          const cut = at % (bytes.length + 1);
          agrees(bytes.subarray(0, cut), new Uint8Array(0), after);
          agrees(Buffer.concat([bytes.subarray(0, cut), insert, bytes.subarray(cut)]), insert, after);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('reads ids, methods and errors with multi-byte text and escapes', () => {
    const text = '{"result":{"d":"é ✓ 🚀 \\\\\\" }"},"jsonrpc":"2.0","id":"ü-1"}';
    expect(readResponseEnvelopeBytes(Buffer.from(text))).toEqual({
      id: 'ü-1',
      method: null,
      isResponse: true,
      hasError: false,
      errorCode: null,
      errorMessage: null,
    });
    const err = '{"jsonrpc":"2.0","id":3,"error":{"code":-32001,"message":"Sitzung abgelaufen — ✗"}}';
    expect(readResponseEnvelopeBytes(Buffer.from(err))).toMatchObject({
      id: '3',
      hasError: true,
      errorCode: -32001,
      errorMessage: 'Sitzung abgelaufen — ✗',
    });
  });
});

describe('readRequestEnvelope', () => {
  it('reads method, id, tool name and initialize params', () => {
    expect(
      readRequestEnvelope(
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","_meta":{"traceparent":"00-a-b-01"}}}',
      ),
    ).toMatchObject({
      count: 1,
      method: 'tools/call',
      id: '3',
      ids: ['3'],
      toolName: 'search',
      expectsResponse: true,
      metaTraceparent: '00-a-b-01',
    });
    expect(
      readRequestEnvelope(
        '{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":"2025-06-18","clientInfo":{"name":"c","version":"9"}}}',
      ),
    ).toMatchObject({
      method: 'initialize',
      protocolVersion: '2025-06-18',
      clientName: 'c',
      clientVersion: '9',
    });
  });

  it('counts batches, keeps every request id (duplicates included) and skips notifications as expecting nothing', () => {
    const env = readRequestEnvelope(
      '[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"tools/list"}]',
    );
    expect(env).toMatchObject({
      count: 3,
      method: 'notifications/initialized',
      id: null,
      ids: ['1', '1'],
      expectsResponse: true,
    });
    expect(readRequestEnvelope('{"jsonrpc":"2.0","method":"notifications/initialized"}')).toMatchObject({
      count: 1,
      expectsResponse: false,
      ids: [],
    });
  });

  it('never throws on arbitrary strings or arbitrary JSON, and never shares its ids array', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.json(), serialised(fc.array(message))),
        (text) => {
          const env = readRequestEnvelope(text);
          expect(env.count).toBeGreaterThanOrEqual(0);
          expect(env.ids.length).toBeLessThanOrEqual(env.count);
        },
      ),
      { numRuns: 1500 },
    );
    const a = readRequestEnvelope('nope');
    a.ids.push('x');
    expect(readRequestEnvelope('nope').ids).toEqual([]);
  });
});

describe('readInitializeResult', () => {
  it('reads the server info and never throws', () => {
    expect(
      readInitializeResult(
        '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"s","version":"1"}}}',
      ),
    ).toEqual({ protocolVersion: '2025-06-18', serverName: 's', serverVersion: '1' });
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (t) => void readInitializeResult(t)));
  });
});
