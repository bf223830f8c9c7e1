import { readResponseEnvelope, readResponseEnvelopeBytes } from '../sessions/jsonrpc.js';
import { SseReader } from '../sessions/sseReader.js';
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
        this.handle.message(readResponseEnvelopeBytes(body), body);
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

/**
 * Reads an SSE body's events in its bytes (`SseReader`) and each event's JSON-RPC envelope with
 * `readResponseEnvelopeBytes`. Nothing the size of the body is decoded into a string: only the
 * envelope's id, method and error are (and an `initialize` answer, which the tracker keeps).
 */
class SseObserver implements BodyObserver {
  private readonly reader: SseReader;
  events = 0;

  constructor(handle: ExchangeHandle) {
    this.reader = new SseReader(({ data }) => {
      this.events++;
      handle.message(readResponseEnvelopeBytes(data), data);
    }, MAX_SSE_EVENT_BYTES);
  }

  push(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch {
      // A malformed stream must never break forwarding; the exchange simply learns less.
    }
  }

  end(): string | null {
    this.reader.end();
    return null;
  }
}
