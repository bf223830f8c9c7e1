// text/event-stream read in its bytes, for the proxy's observer, the legacy SSE path and the
// probe. Lines end at LF, CR or CRLF (a CR that ends one chunk and an LF that opens the next are
// one line end); `data` fields are joined by LF; an empty line ends an event that has data; `:`
// starts a comment; a byte-order mark may open the stream. An event's data is handed over as
// bytes (views of the chunks when it fits in one), so nothing the size of a body is decoded.
// Held to eventsource-parser over the whole stream decoded by a TextDecoder (sseReader.test.ts).
// eventsource-parser itself, fed chunk by chunk, keeps a CR that ends a chunk until a later chunk
// brings CR or LF, and loses the event it ended when the stream stops first (bench/README.md).

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const EMPTY = Buffer.alloc(0);
const NEWLINE = Buffer.from('\n');

export interface SseEvent {
  /** The event's data (its `data` fields joined by LF). */
  data: Buffer;
  /** The `event` field, or null when none was given (the default type, `message`). */
  type: string | null;
}

export class SseReader {
  /** Bytes of a line not ended yet (spanning chunks). */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** The last line ended at a CR that was the last byte seen: an LF opening the next chunk belongs to it. */
  private lineEndedByCr = false;
  /** The data fields of the event being read (views of the chunks; joined when it ends). */
  private data: Buffer[] = [];
  private dataBytes = 0;
  private type: string | null = null;
  private firstLine = true;
  /** Set once an event (or an unended line) exceeded `maxEventBytes`: the rest is not read. */
  gaveUp = false;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly maxEventBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Reads a chunk; `onEvent` runs for every event it completes. Throws only what `onEvent` throws. */
  push(chunk: Uint8Array): void {
    if (this.gaveUp || chunk.length === 0) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let pos = 0;
    if (this.lineEndedByCr) {
      this.lineEndedByCr = false;
      if (b[0] === LF) pos = 1;
    }
    let nextLf = b.indexOf(LF, pos);
    let nextCr = b.indexOf(CR, pos);
    while (pos < b.length) {
      if (nextLf >= 0 && nextLf < pos) nextLf = b.indexOf(LF, pos);
      if (nextCr >= 0 && nextCr < pos) nextCr = b.indexOf(CR, pos);
      const lineEnd = nextLf < 0 ? nextCr : nextCr < 0 ? nextLf : Math.min(nextLf, nextCr);
      if (lineEnd < 0) break;
      if (this.partialBytes > 0) {
        this.partial.push(b.subarray(pos, lineEnd));
        const line = Buffer.concat(this.partial, this.partialBytes + (lineEnd - pos));
        this.partial = [];
        this.partialBytes = 0;
        this.line(line, 0, line.length);
      } else {
        this.line(b, pos, lineEnd);
      }
      if (this.gaveUp) return;
      pos = lineEnd + 1;
      if (b[lineEnd] === CR) {
        if (pos === b.length) this.lineEndedByCr = true;
        else if (b[pos] === LF) pos++;
      }
    }
    if (pos < b.length) {
      this.partial.push(b.subarray(pos));
      this.partialBytes += b.length - pos;
    }
    if (this.partialBytes + this.dataBytes > this.maxEventBytes) this.giveUp();
  }

  /** The stream ended: an unended last line is not a line, and an event without its empty line is not dispatched. */
  end(): void {
    this.partial = [];
    this.partialBytes = 0;
    this.data = [];
    this.dataBytes = 0;
  }

  /** One line, `b[from, to)` without its terminator. */
  private line(b: Buffer, from: number, to: number): void {
    if (this.firstLine) {
      this.firstLine = false;
      if (to - from >= 3 && b[from] === 0xef && b[from + 1] === 0xbb && b[from + 2] === 0xbf) from += 3;
    }
    if (from === to) {
      this.dispatch();
      return;
    }
    if (b[from] === COLON) return; // a comment
    let colon = b.indexOf(COLON, from);
    if (colon < 0 || colon >= to) colon = to;
    let valueFrom = colon + 1;
    if (valueFrom < to && b[valueFrom] === SPACE) valueFrom++;
    const field = colon - from;
    if (field === 4 && b[from] === 100 && b[from + 1] === 97 && b[from + 2] === 116 && b[from + 3] === 97) {
      // data
      const value = valueFrom < to ? b.subarray(valueFrom, to) : EMPTY;
      this.data.push(value);
      this.dataBytes += value.length + 1;
      if (this.dataBytes > this.maxEventBytes) this.giveUp();
    } else if (
      field === 5 &&
      b[from] === 101 &&
      b[from + 1] === 118 &&
      b[from + 2] === 101 &&
      b[from + 3] === 110 &&
      b[from + 4] === 116
    ) {
      // event: an empty value means the default type
      this.type = valueFrom < to ? b.toString('utf8', valueFrom, to) : null;
    }
    // `id` and `retry` change nothing a reader here needs.
  }

  private dispatch(): void {
    const parts = this.data;
    const type = this.type;
    this.type = null;
    if (parts.length === 0) return;
    this.data = [];
    this.dataBytes = 0;
    let data: Buffer;
    if (parts.length === 1) data = parts[0]!;
    else {
      const joined: Buffer[] = [];
      for (let k = 0; k < parts.length; k++) {
        if (k > 0) joined.push(NEWLINE);
        joined.push(parts[k]!);
      }
      data = Buffer.concat(joined);
    }
    this.onEvent({ data, type });
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.partial = [];
    this.partialBytes = 0;
    this.data = [];
    this.dataBytes = 0;
  }
}
