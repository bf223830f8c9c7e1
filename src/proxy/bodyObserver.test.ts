import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { looseSseStream, referenceSseEvents, splitAt, sseishBytes } from '../../test/helpers/sse.js';
import { type ResponseEnvelope, readRequestEnvelope, readResponseEnvelope } from '../sessions/jsonrpc.js';
import { SessionTracker } from '../sessions/tracker.js';
import { type BodyKind, bodyKindFor, createBodyObserver, MAX_SSE_EVENT_BYTES } from './bodyObserver.js';

/** A real exchange handle whose `message` calls are also written down, in order. */
function observe(kind: BodyKind, chunks: readonly Uint8Array[], rpcMethod = 'tools/list') {
  const tracker = new SessionTracker({ onObservation: () => {}, now: () => 0 });
  const handle = tracker.begin({
    upstream: 'up',
    transport: 'streamable-http',
    httpMethod: 'POST',
    sessionId: 'sid',
    request: readRequestEnvelope(JSON.stringify({ jsonrpc: '2.0', id: 1, method: rpcMethod })),
  });
  const seen: ResponseEnvelope[] = [];
  const original = handle.message.bind(handle);
  handle.message = (env, text) => {
    seen.push(env);
    original(env, text);
  };
  const observer = createBodyObserver(kind, handle);
  for (const c of chunks) observer.push(Buffer.from(c));
  const errorText = observer.end();
  return { seen, errorText, events: observer.events, handle };
}

const jsonRpcData = fc
  .oneof(
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.oneof(fc.nat(), fc.string()), result: fc.jsonValue() }),
    fc.record({
      jsonrpc: fc.constant('2.0'),
      id: fc.nat(),
      error: fc.record({ code: fc.integer(), message: fc.string() }),
    }),
    fc.record({
      jsonrpc: fc.constant('2.0'),
      method: fc.constant('notifications/progress'),
      params: fc.jsonValue(),
    }),
  )
  .map((m) => JSON.stringify(m));

const newline = fc.constantFrom('\n', '\r\n', '\r');

/** A valid SSE stream: events with JSON-RPC (or any text) data, ids, event names, comments, any line endings. */
const sseStream = fc
  .array(
    fc.record({
      comment: fc.option(
        fc.string({ unit: 'grapheme' }).map((s) => s.replace(/[\r\n]/g, ' ')),
        { nil: null },
      ),
      event: fc.option(fc.constantFrom('message', 'ping'), { nil: null }),
      id: fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), { nil: null }),
      data: fc.oneof(
        jsonRpcData,
        fc.string({ unit: 'grapheme' }).map((s) => s.replace(/[\r\n]/g, ' ')),
      ),
      nl: newline,
    }),
    { maxLength: 8 },
  )
  .map((events) =>
    events
      .map(
        ({ comment, event, id, data, nl }) =>
          [
            comment !== null ? `:${comment}` : null,
            event ? `event: ${event}` : null,
            id ? `id: ${id}` : null,
            `data: ${data}`,
          ]
            .filter((l) => l !== null)
            .map((l) => l + nl)
            .join('') + nl,
      )
      .join(''),
  );

/** What the observer must see: the reference parser's events in the whole stream, each envelope read from its text. */
function referenceSse(bytes: Uint8Array): { seen: ResponseEnvelope[]; events: number } {
  const seen = referenceSseEvents(bytes).map((e) => readResponseEnvelope(e.data));
  return { seen, events: seen.length };
}

const sseLine = fc.oneof(
  jsonRpcData.map((d) => `data: ${d}`),
  jsonRpcData.map((d) => `data:${d}`),
  // One message spread over several data lines (joined by LF, as the spec says).
  jsonRpcData.map((d) =>
    JSON.stringify(JSON.parse(d), null, 2)
      .split('\n')
      .map((l) => `data: ${l}`)
      .join('\n'),
  ),
  fc.constantFrom(
    'data',
    'data:',
    'data: ',
    'dat: x',
    'datax: {}',
    ' data: {}',
    ': comment',
    ':',
    'event: message',
    'id: 7',
    '',
  ),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((t) => t.replace(/[\r\n]/g, '')),
);

/** The property both chunking tests check: the observer sees what the reference reads in the whole stream. */
function observesAsReference(bytes: Uint8Array, cuts: readonly number[]): void {
  const want = referenceSse(bytes);
  const got = observe('sse', splitAt(bytes, cuts));
  expect(got.seen).toEqual(want.seen);
  expect(got.events).toBe(want.events);
}

const looseStream = looseSseStream(sseLine, ['', 'data: {"jsonrpc":"2.0","id":9,"result":{}}'], 12);

describe('SSE observer against the whole stream decoded at once', () => {
  it('keeps an initialize answer that arrives over SSE, split across chunks', () => {
    const answer =
      '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"ü","version":"1"}}}';
    const bytes = Buffer.from(`event: message\ndata: ${answer}\n\n`);
    const { handle } = observe('sse', splitAt(bytes, [10, 31, 32, 60]), 'initialize');
    expect(handle.initializeResultText).toBe(answer);
  });

  it('ends a line at a CR that ends a chunk, and skips the LF that may open the next', () => {
    const msg = '{"jsonrpc":"2.0","id":1,"result":{}}';
    for (const chunks of [
      [`data: ${msg}\r`, '\r'],
      [`data: ${msg}\r`, '\n\r\n'],
      [`data: ${msg}\r\n`, '\r\n'],
      [`data: ${msg}\r`, '\ndata: x\n\n'],
    ]) {
      const { seen, events } = observe(
        'sse',
        chunks.map((c) => Buffer.from(c)),
      );
      expect(events).toBe(1);
      expect(seen[0]?.isResponse).toBe(true);
    }
    // A lone CR then LF in the next chunk is one line end, not an empty line: no event yet.
    expect(observe('sse', [Buffer.from(`data: ${msg}\r`), Buffer.from('\n')]).events).toBe(0);
  });

  it('sees the same events in any chunking of strict and loose streams', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          sseStream.map((t) => Buffer.from(t, 'utf8')),
          looseStream,
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
        observesAsReference,
      ),
      { numRuns: 1500 },
    );
  });

  it('sees the same events in arbitrary bytes (invalid UTF-8 split anywhere, stray CRs)', () => {
    fc.assert(
      fc.property(
        sseishBytes([
          'data: ',
          'data:',
          '\n',
          '\r\n',
          '{"id":1,"result":{}}',
          '{"id":"é","error":{"code":1,"message":"✓"}}',
          '"',
          ':',
        ]),
        fc.array(fc.nat(), { maxLength: 8 }),
        observesAsReference,
      ),
      { numRuns: 2000 },
    );
  });
});

describe('SSE observer', () => {
  it('reads every event of a stream, multi-byte text included', () => {
    const text =
      ': keepalive\n\n' +
      'event: message\nid: 1\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"msg":"héllo ✓ 🚀"}}\n\n' +
      'data: {"jsonrpc":"2.0","id":1,"result":{"tools":[]}}\r\n\r\n';
    const { seen, events, handle } = observe('sse', [Buffer.from(text)]);
    expect(events).toBe(2);
    expect(seen.map((e) => e.isResponse)).toEqual([false, true]);
    expect(handle.complete).toBe(true);
  });

  it('decodes like a TextDecoder: a leading byte-order mark dropped, split and invalid UTF-8 replaced alike', () => {
    const bom = Uint8Array.of(0xef, 0xbb, 0xbf);
    const head = Buffer.from('data: {"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"h');
    // é, then a lone continuation byte and a truncated 3-byte sequence (invalid), then an emoji.
    const odd = Uint8Array.of(0xc3, 0xa9, 0x80, 0xe2, 0x82, 0x21, 0xf0, 0x9f, 0x9a, 0x80);
    const tail = Buffer.from('"}}\n\n');
    const bytes = Buffer.concat([bom, head, odd, tail]);
    const reference = new TextDecoder('utf-8').decode(bytes);
    expect(reference.startsWith('data: ')).toBe(true);
    const message = (JSON.parse(reference.slice('data: '.length)) as { error: { message: string } }).error
      .message;
    expect(message).toContain('\ufffd');
    for (const chunks of [
      [bytes],
      [...bytes].map((b) => Uint8Array.of(b)),
      splitAt(bytes, [1, 2, bom.length + head.length + 1, bom.length + head.length + 4]),
    ]) {
      const { seen, events } = observe('sse', chunks);
      expect(events).toBe(1);
      expect(seen.map((e) => e.errorMessage)).toEqual([message]);
    }
    // Only a mark opening the stream is dropped; one inside the data is text.
    const inner = observe('sse', [
      Buffer.from('data: {"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"\ufeffx"}}\n\n'),
    ]);
    expect(inner.seen.map((e) => e.errorMessage)).toEqual(['\ufeffx']);
  });

  it('arbitrary chunkings never change what is seen', () => {
    fc.assert(
      fc.property(sseStream, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'utf8');
        const whole = observe('sse', [bytes]);
        const chunked = observe('sse', splitAt(bytes, cuts));
        expect(chunked.seen).toEqual(whole.seen);
        expect(chunked.events).toBe(whole.events);
      }),
      { numRuns: 300 },
    );
  });

  it('byte-at-a-time delivery gives the same result as one chunk', () => {
    fc.assert(
      fc.property(sseStream, (text) => {
        const bytes = Buffer.from(text, 'utf8');
        const oneByOne = [...bytes].map((b) => Uint8Array.of(b));
        expect(observe('sse', oneByOne).seen).toEqual(observe('sse', [bytes]).seen);
      }),
      { numRuns: 200 },
    );
  });

  it('an event bigger than the cap stops the observation instead of growing memory, and never throws', () => {
    const mib = Buffer.alloc(1024 * 1024, 'x');
    const chunks = [Buffer.from('data: {"jsonrpc":"2.0","id":1,"result":"')];
    for (let i = 0; i * mib.length <= MAX_SSE_EVENT_BYTES; i++) chunks.push(mib);
    chunks.push(Buffer.from('"}\n\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'));
    const { seen, events } = observe('sse', chunks);
    expect(events).toBe(0);
    expect(seen).toEqual([]);
    // Just under the cap is still observed.
    const fits = observe('sse', [Buffer.from(`data: "${'y'.repeat(MAX_SSE_EVENT_BYTES / 2)}"\n\n`)]);
    expect(fits.events).toBe(1);
  });

  it('arbitrary bytes never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        for (const kind of ['sse', 'json', 'error', 'none'] as const) observe(kind, chunks);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('JSON and error body observers', () => {
  it('a JSON answer is read once whole, whatever the chunking', () => {
    fc.assert(
      fc.property(jsonRpcData, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'utf8');
        expect(observe('json', splitAt(bytes, cuts)).seen).toEqual(observe('json', [bytes]).seen);
      }),
      { numRuns: 500 },
    );
  });

  it('error bodies answer the JSON-RPC error message, else the raw text, capped at 4 KiB', () => {
    expect(
      observe('error', [
        Buffer.from('{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Session not found"}}'),
      ]).errorText,
    ).toBe('Session not found');
    expect(observe('error', [Buffer.from('Bad Request: No valid session ID provided')]).errorText).toBe(
      'Bad Request: No valid session ID provided',
    );
    const big = observe('error', [Buffer.alloc(3000, 'a'), Buffer.alloc(3000, 'b')]).errorText!;
    expect(big.length).toBe(4096);
  });

  it('the initialize answer is kept for the tracker to read server info', () => {
    const init =
      '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"s","version":"1"}}}';
    expect(observe('json', [Buffer.from(init)], 'initialize').handle.initializeResultText).toBe(init);
    expect(observe('sse', [Buffer.from(`data: ${init}\n\n`)], 'initialize').handle.initializeResultText).toBe(
      init,
    );
  });
});

describe('bodyKindFor', () => {
  it.each([
    [200, 'text/event-stream; charset=utf-8', 'sse'],
    [200, 'application/json', 'json'],
    [200, null, 'none'],
    [202, 'application/json', 'none'],
    [204, null, 'none'],
    [404, 'text/plain', 'error'],
    [500, 'application/json', 'error'],
  ] as const)('%i %s → %s', (status, type, kind) => {
    expect(bodyKindFor(status, type)).toBe(kind);
  });
});
