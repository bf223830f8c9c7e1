// Shared by the SSE reader's and the body observer's property tests: how a stream is cut into
// chunks, what a reference parser reads in the whole stream, and the streams to try.
import { createParser } from 'eventsource-parser';
import fc from 'fast-check';

/** Splits `bytes` at the given cut points (any byte offsets, UTF-8 sequences and CRLFs included). */
export function splitAt<T extends Uint8Array>(bytes: T, cuts: readonly number[]): T[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: T[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p) as T);
    from = p;
  }
  out.push(bytes.subarray(from) as T);
  return out;
}

/**
 * The reference for reading SSE: the whole stream decoded by a TextDecoder (invalid bytes
 * replaced, a leading byte-order mark dropped) and parsed in one piece by eventsource-parser.
 * It holds back a CR that ends its input (an LF may follow in a next chunk) and never settles
 * it; the spec ends the line there, as `SseReader` does, so the reference's input gets the LF
 * that settles it. (Fed chunk by chunk, eventsource-parser does not always agree with itself on
 * CR-terminated lines: bench/README.md.)
 */
export function referenceSseEvents(bytes: Uint8Array): Array<{ data: string; type: string | null }> {
  const seen: Array<{ data: string; type: string | null }> = [];
  const parser = createParser({ onEvent: (e) => seen.push({ data: e.data, type: e.event ?? null }) });
  const text = new TextDecoder('utf-8').decode(bytes);
  parser.feed(text.endsWith('\r') ? `${text}\n` : text);
  return seen;
}

/**
 * Streams a strict writer would not produce: `line`s with mixed terminators, an optional
 * byte-order mark, and one of `tails` (possibly unterminated) at the end.
 */
export function looseSseStream(
  line: fc.Arbitrary<string>,
  tails: readonly string[],
  maxLines: number,
): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      fc.boolean(),
      fc.array(fc.tuple(line, fc.constantFrom('\n', '\r', '\r\n', '\n\n', '\r\r', '\r\n\r\n')), {
        maxLength: maxLines,
      }),
      fc.constantFrom(...tails),
    )
    .map(([bom, lines, tail]) =>
      Buffer.concat([
        bom ? Uint8Array.of(0xef, 0xbb, 0xbf) : new Uint8Array(0),
        Buffer.from(lines.map(([l, nl]) => l + nl).join('') + tail, 'utf8'),
      ]),
    );
}

/**
 * Arbitrary bytes that look partly like SSE: the given `tokens`, a byte-order mark, a truncated
 * UTF-8 sequence, an invalid byte and random bytes, up to 24 pieces.
 */
export function sseishBytes(tokens: readonly string[]): fc.Arbitrary<Buffer> {
  const piece = fc.oneof(
    fc.constantFrom(
      ...tokens.map((t) => Buffer.from(t)),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from([0xe2, 0x9c]),
      Buffer.from([0xff]),
    ),
    fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)),
  );
  return fc.array(piece, { maxLength: 24 }).map((parts) => Buffer.concat(parts));
}
