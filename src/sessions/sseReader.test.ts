import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseReader } from './sseReader.js';

interface Seen {
  data: string;
  type: string | null;
}

/** Splits `bytes` at the given cut points (any byte offsets: inside UTF-8 sequences and CRLFs too). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

function read(chunks: readonly Uint8Array[], max?: number): Seen[] {
  const seen: Seen[] = [];
  const reader = new SseReader(({ data, type }) => seen.push({ data: data.toString('utf8'), type }), max);
  for (const c of chunks) reader.push(c);
  reader.end();
  return seen;
}

/**
 * The reference: the whole stream decoded by a TextDecoder (invalid bytes replaced, a leading
 * byte-order mark dropped) and parsed in one piece by eventsource-parser. It holds back a CR that
 * ends its input (an LF may follow) and never settles it; the spec ends the line there, as the
 * reader does, so the reference's input gets the LF that settles it.
 */
function reference(bytes: Uint8Array): Seen[] {
  const seen: Seen[] = [];
  const parser = createParser({ onEvent: (e) => seen.push({ data: e.data, type: e.event ?? null }) });
  const text = new TextDecoder('utf-8').decode(bytes);
  parser.feed(text.endsWith('\r') ? `${text}\n` : text);
  return seen;
}

const line = fc.oneof(
  fc.constantFrom(
    'data: {"jsonrpc":"2.0","id":1,"result":{}}',
    'data:{"a":"é ✓ 🚀"}',
    'data',
    'data:',
    'data: ',
    'data:  two spaces',
    'dat: x',
    'datax: y',
    ' data: z',
    ': comment',
    ':',
    'event: message',
    'event: endpoint',
    'event:',
    'event',
    'event: ü',
    'eventx: q',
    'id: 7',
    'retry: 10',
    '',
  ),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map((t) => `data: ${t.replace(/[\r\n]/g, '')}`),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map((t) => t.replace(/[\r\n]/g, '')),
);
const stream = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.tuple(line, fc.constantFrom('\n', '\r', '\r\n', '\n\n', '\r\r', '\r\n\r\n')), {
      maxLength: 14,
    }),
    fc.constantFrom('', 'data: tail', 'event: x'),
  )
  .map(([bom, lines, tail]) =>
    Buffer.concat([
      bom ? Uint8Array.of(0xef, 0xbb, 0xbf) : new Uint8Array(0),
      Buffer.from(lines.map(([l, nl]) => l + nl).join('') + tail, 'utf8'),
    ]),
  );

describe('SseReader', () => {
  it('reads what eventsource-parser reads in the whole decoded stream, in any chunking', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        expect(read(split(bytes, cuts))).toEqual(reference(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads what it reads in arbitrary bytes (invalid UTF-8, stray CRs), in any chunking', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        ...['data: ', 'data:', 'event: ', '\n', '\r', '\r\n', '{"id":1}', ':', 'x'].map((t) =>
          Buffer.from(t),
        ),
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from([0xe2, 0x9c]),
        Buffer.from([0xff]),
      ),
      fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cuts) => {
        const bytes = Buffer.concat(parts);
        expect(read(split(bytes, cuts))).toEqual(reference(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the event type until the event ends, and forgets it at every empty line', () => {
    const text =
      'event: endpoint\ndata: /messages?s=1\n\nevent: ping\n\ndata: {"id":1}\n\nevent:\ndata: x\n\n';
    expect(read([Buffer.from(text)])).toEqual([
      { data: '/messages?s=1', type: 'endpoint' },
      { data: '{"id":1}', type: null },
      { data: 'x', type: null },
    ]);
  });

  it('ends a line at a CR that ends a chunk, and skips the LF that opens the next', () => {
    expect(read([Buffer.from('data: a\r'), Buffer.from('\n\r'), Buffer.from('\ndata: b\n\n')])).toEqual([
      { data: 'a', type: null },
      { data: 'b', type: null },
    ]);
    // The case eventsource-parser, fed the same chunks, never reads: the stream stops after the CR.
    expect(read([Buffer.from('data: a\r\r'), Buffer.from('data: b')])).toEqual([{ data: 'a', type: null }]);
  });

  it('gives up past its cap instead of buffering without bound, and reads nothing more', () => {
    const seen = read(
      [Buffer.from('data: '), Buffer.alloc(600, 'x'), Buffer.from('\n\ndata: after\n\n')],
      512,
    );
    expect(seen).toEqual([]);
    const fits = read([Buffer.from(`data: ${'y'.repeat(200)}\n\ndata: next\n\n`)], 512);
    expect(fits.map((s) => s.data.length)).toEqual([200, 4]);
  });
});
