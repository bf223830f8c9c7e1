import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { readResponseEnvelope } from '../sessions/jsonrpc.js';
import type { ExchangeHandle } from '../sessions/tracker.js';

/** How much of a JSON body (or a non-2xx body) the tee keeps to read its envelope. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const MAX_ERROR_BYTES = 4096;
/**
 * Largest SSE event (or unterminated line) the tee buffers, in characters. A bigger one
 * stops the observation of that stream (the bytes still flow to the client untouched), so a
 * hostile or broken upstream cannot grow the proxy's memory without bound.
 */
export const MAX_SSE_EVENT_CHARS = 8 * 1024 * 1024;

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
    const text =
      this.chunks.length === 1
        ? this.chunks[0]!.toString('utf8')
        : Buffer.concat(this.chunks).toString('utf8');
    this.chunks = [];
    try {
      const env = readResponseEnvelope(text);
      if (this.isJson) {
        if (env.isResponse && this.handle.record.rpcMethod === 'initialize')
          this.handle.initializeResultText = text;
        this.handle.message(env);
        return null;
      }
      // Error bodies: prefer the JSON-RPC error message, else the raw text.
      if (env.hasError) this.handle.message(env);
      return env.errorMessage ?? text;
    } catch {
      return this.isJson ? null : text;
    }
  }
}

class SseObserver implements BodyObserver {
  /**
   * Node's StringDecoder rather than a streaming TextDecoder: the same text (a character split
   * across chunks is held back, invalid bytes become U+FFFD) at about a tenth of the cost on
   * large events (a 38 KB `tools/list`: 5 vs 48 µs, bench/README.md).
   */
  private readonly decoder = new StringDecoder('utf8');
  /** A byte-order mark opening the stream is not part of the first field (as TextDecoder drops it). */
  private atStart = true;
  private readonly parser: EventSourceParser;
  /** Set when an event exceeded MAX_SSE_EVENT_CHARS: the rest of the stream is not observed. */
  private gaveUp = false;
  events = 0;
  constructor(handle: ExchangeHandle) {
    this.parser = createParser({
      maxBufferSize: MAX_SSE_EVENT_CHARS,
      onError: (err) => {
        if (err.type === 'max-buffer-size-exceeded') this.gaveUp = true;
      },
      onEvent: (event) => {
        this.events++;
        const env = readResponseEnvelope(event.data);
        if (
          env.isResponse &&
          handle.record.rpcMethod === 'initialize' &&
          handle.initializeResultText === null
        ) {
          handle.initializeResultText = event.data;
        }
        handle.message(env);
      },
    });
  }

  push(chunk: Buffer): void {
    if (this.gaveUp) return;
    try {
      let text = this.decoder.write(chunk);
      if (this.atStart && text.length > 0) {
        this.atStart = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      this.parser.feed(text);
    } catch {
      // A malformed stream must never break forwarding; the exchange simply learns less.
    }
  }

  end(): string | null {
    if (this.gaveUp) return null;
    try {
      const rest = this.decoder.end();
      this.parser.feed(this.atStart && rest.charCodeAt(0) === 0xfeff ? rest.slice(1) : rest);
    } catch {}
    return null;
  }
}
