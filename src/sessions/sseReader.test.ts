import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { looseSseStream, referenceSseEvents, splitAt, sseishBytes } from '../../test/helpers/sse.js';
import { SseReader } from './sseReader.js';

interface Seen {
  data: string;
  type: string | null;
}

function read(chunks: readonly Uint8Array[], max?: number): Seen[] {
  const seen: Seen[] = [];
  const reader = new SseReader(({ data, type }) => seen.push({ data: data.toString('utf8'), type }), max);
  for (const c of chunks) reader.push(c);
  reader.end();
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
const stream = looseSseStream(line, ['', 'data: tail', 'event: x'], 14);

describe('SseReader', () => {
  it('reads what eventsource-parser reads in the whole decoded stream, in any chunking', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        expect(read(splitAt(bytes, cuts))).toEqual(referenceSseEvents(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads what it reads in arbitrary bytes (invalid UTF-8, stray CRs), in any chunking', () => {
    fc.assert(
      fc.property(
        sseishBytes(['data: ', 'data:', 'event: ', '\n', '\r', '\r\n', '{"id":1}', ':', 'x']),
        fc.array(fc.nat(), { maxLength: 8 }),
        (bytes, cuts) => {
          expect(read(splitAt(bytes, cuts))).toEqual(referenceSseEvents(bytes));
        },
      ),
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
