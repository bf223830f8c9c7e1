import { readResponseEnvelope, readResponseEnvelopeBytes } from '../sessions/jsonrpc.js';
import type { ExchangeHandle } from '../sessions/tracker.js';

/** How much of a JSON body (or a non-2xx body) the tee keeps to read its envelope. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const MAX_ERROR_BYTES = 4096;
/**
 * Largest SSE event (or unterminated line) the tee buffers, in bytes. A bigger one
 * stops the observation of that stream (the bytes still flow to the client untouched), so a
 * hostile or broken upstream cannot grow the proxy's memory without bound.
 */
export const MAX_SSE_EVENT_BYTES = 8 * 1024 * 1024;

/**
 * Reads a response body off to the side of the bytes: the proxy writes each
 * chunk to the client first and then hands it here. Never throws, never delays.
 */
export interface BodyObserver {
  push(chunk: Buffer): void;
  /** Body finished; returns the error text for non-2xx bodies. */
  end(): string | null;
  /** SSE events seen (progress notifications included). */
  readonly events: number;
}

export type BodyKind = 'sse' | 'json' | 'error' | 'none';

export function bodyKindFor(status: number, contentType: string | null): BodyKind {
  if (status < 200 || status >= 300) return 'error';
  if (status === 202 || status === 204) return 'none';
  if (contentType?.startsWith('text/event-stream')) return 'sse';
  if (contentType?.includes('json')) return 'json';
  return 'none';
}

export function createBodyObserver(kind: BodyKind, handle: ExchangeHandle): BodyObserver {
  switch (kind) {
    case 'sse':
      return new SseObserver(handle);
    case 'json':
      return new CollectingObserver(handle, MAX_JSON_BYTES, true);
    case 'error':
      return new CollectingObserver(handle, MAX_ERROR_BYTES, false);
    default:
      return NOOP;
  }
}

const NOOP: BodyObserver = { push() {}, end: () => null, events: 0 };

class CollectingObserver implements BodyObserver {
  private chunks: Buffer[] = [];
  private size = 0;
  private overflow = false;
  readonly events = 0;
  constructor(
    private readonly handle: ExchangeHandle,
    private readonly max: number,
    private readonly isJson: boolean,
  ) {}

  push(chunk: Buffer): void {
    if (this.overflow) return;
    if (this.size + chunk.length > this.max) {
      if (this.isJson) {
        this.overflow = true;
        this.chunks = [];
        return;
      }
      chunk = chunk.subarray(0, this.max - this.size);
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  end(): string | null {
    if (this.overflow) return null;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    if (this.isJson) {
      try {
        // Read in the bytes: a large answer is never decoded whole (only an initialize answer is kept).
        const env = readResponseEnvelopeBytes(body);
        if (env.isResponse && this.handle.record.rpcMethod === 'initialize')
          this.handle.initializeResultText = body.toString('utf8');
        this.handle.message(env);
      } catch {}
      return null;
    }
    const text = body.toString('utf8');
    try {
      const env = readResponseEnvelope(text);
      // Error bodies: prefer the JSON-RPC error message, else the raw text.
      if (env.hasError) this.handle.message(env);
      return env.errorMessage ?? text;
    } catch {
      return text;
    }
  }
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const EMPTY = Buffer.alloc(0);

/**
 * Reads the events of an SSE body in its bytes (text/event-stream framing: lines ended by LF,
 * CR or CRLF, `data` fields joined by LF, an empty line ends an event that has data, `:` starts a
 * comment, a byte-order mark may open the stream) and each event's JSON-RPC envelope with
 * `readResponseEnvelopeBytes`. Nothing the size of the body is decoded into a string: only the
 * envelope's id, method and error are (and an `initialize` answer, which the tracker keeps).
 * The same events as decoding the stream first and parsing its text (the tests hold it to
 * `eventsource-parser` over a `TextDecoder`), at a fraction of the allocation.
 */
class SseObserver implements BodyObserver {
  /** Bytes of a line not ended yet (spanning chunks). */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** The last line ended with a CR as the last byte seen: an LF opening the next chunk belongs to it. */
  private lineEndedByCr = false;
  /** The data fields of the event being read (views of the chunks; joined when it ends). */
  private data: Buffer[] = [];
  private dataBytes = 0;
  private firstLine = true;
  /** Set when an event exceeded MAX_SSE_EVENT_BYTES: the rest of the stream is not observed. */
  private gaveUp = false;
  events = 0;

  constructor(private readonly handle: ExchangeHandle) {}

  push(chunk: Buffer): void {
    if (this.gaveUp || chunk.length === 0) return;
    try {
      this.feed(chunk);
    } catch {
      // A malformed stream must never break forwarding; the exchange simply learns less.
    }
  }

  end(): string | null {
    // An unterminated last line is not a line (as in the text parser): nothing more to read.
    this.partial = [];
    this.data = [];
    return null;
  }

  private feed(chunk: Buffer): void {
    let pos = 0;
    if (this.lineEndedByCr) {
      this.lineEndedByCr = false;
      if (chunk[0] === LF) pos = 1;
    }
    let nextLf = chunk.indexOf(LF, pos);
    let nextCr = chunk.indexOf(CR, pos);
    while (pos < chunk.length) {
      if (nextLf >= 0 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      if (nextCr >= 0 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
      const lineEnd = nextLf < 0 ? nextCr : nextCr < 0 ? nextLf : Math.min(nextLf, nextCr);
      if (lineEnd < 0) break;
      if (this.partialBytes > 0) {
        this.partial.push(chunk.subarray(pos, lineEnd));
        const line = Buffer.concat(this.partial, this.partialBytes + (lineEnd - pos));
        this.partial = [];
        this.partialBytes = 0;
        this.line(line, 0, line.length);
      } else {
        this.line(chunk, pos, lineEnd);
      }
      if (this.gaveUp) return;
      pos = lineEnd + 1;
      if (chunk[lineEnd] === CR) {
        if (pos === chunk.length) this.lineEndedByCr = true;
        else if (chunk[pos] === LF) pos++;
      }
    }
    if (pos < chunk.length) {
      this.partial.push(chunk.subarray(pos));
      this.partialBytes += chunk.length - pos;
    }
    if (this.partialBytes + this.dataBytes > MAX_SSE_EVENT_BYTES) this.giveUp();
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
    // Only `data` matters to the envelope; `event`, `id` and `retry` change nothing it reads.
    if (
      colon - from !== 4 ||
      b[from] !== 100 /* d */ ||
      b[from + 1] !== 97 /* a */ ||
      b[from + 2] !== 116 /* t */ ||
      b[from + 3] !== 97 /* a */
    )
      return;
    let valueFrom = colon + 1;
    if (valueFrom < to && b[valueFrom] === SPACE) valueFrom++;
    const value = valueFrom < to ? b.subarray(valueFrom, to) : EMPTY;
    this.data.push(value);
    this.dataBytes += value.length + 1;
    if (this.dataBytes > MAX_SSE_EVENT_BYTES) this.giveUp();
  }

  private dispatch(): void {
    const parts = this.data;
    if (parts.length === 0) return;
    this.data = [];
    this.dataBytes = 0;
    let payload: Buffer;
    if (parts.length === 1) payload = parts[0]!;
    else {
      const joined: Buffer[] = [];
      for (let k = 0; k < parts.length; k++) {
        if (k > 0) joined.push(NEWLINE);
        joined.push(parts[k]!);
      }
      payload = Buffer.concat(joined);
    }
    this.events++;
    const handle = this.handle;
    const env = readResponseEnvelopeBytes(payload);
    if (env.isResponse && handle.record.rpcMethod === 'initialize' && handle.initializeResultText === null) {
      handle.initializeResultText = payload.toString('utf8');
    }
    handle.message(env);
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.partial = [];
    this.partialBytes = 0;
    this.data = [];
    this.dataBytes = 0;
  }
}

const NEWLINE = Buffer.from('\n');
