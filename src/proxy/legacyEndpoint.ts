// The one place where the proxy alters a byte stream: the legacy HTTP+SSE `endpoint`
// event, which tells the client where to POST. Everything before it passes through in
// whole events, everything after it passes through exactly as it arrives. Pure: no I/O.
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface EndpointRewriter {
  /** Bytes to send to the client for this upstream chunk (possibly empty, possibly more than one chunk's worth). */
  push(chunk: Buffer): Buffer;
  /** Upstream ended: whatever was held back, unchanged. */
  end(): Buffer;
  /** True once the endpoint event was rewritten. */
  readonly rewritten: boolean;
}

/** Servers send the endpoint first; a stream that has not sent it in this many bytes never will. */
export const MAX_BYTES_BEFORE_ENDPOINT = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/**
 * `rewrite` receives the upstream's endpoint (the event's data) and returns the one the
 * client should see, or null to leave the event as it is. Until the endpoint event has
 * passed, bytes are held back to the end of the current event (chunk boundaries may fall
 * anywhere, even between `\r` and `\n`); afterwards `push` returns its chunk unchanged.
 */
export function createEndpointRewriter(
  rewrite: (endpoint: string) => string | null,
  maxBytesBeforeEndpoint = MAX_BYTES_BEFORE_ENDPOINT,
): EndpointRewriter {
  let held: Buffer = EMPTY;
  let passThrough = false;
  let rewritten = false;
  /** The last chunk ended in `\r`: an `\n` opening the next one completes that line ending. */
  let crAtEnd = false;
  /** ...and that `\r` ended the rewritten endpoint event, whose line endings are now `\n`. */
  let dropLeadingLf = false;

  function push(chunk: Buffer): Buffer {
    if (dropLeadingLf) {
      dropLeadingLf = false;
      if (chunk[0] === LF) chunk = chunk.subarray(1);
    }
    if (passThrough) return chunk;
    const continuesCrLf = crAtEnd && held.length === 0 && chunk[0] === LF;
    crAtEnd = false;
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    // That `\n` belongs to the event already sent: pass it on at once, outside the next block.
    const out: Buffer[] = continuesCrLf ? [held.subarray(0, 1)] : [];
    let blockStart = continuesCrLf ? 1 : 0;
    let lineStart = blockStart;
    for (let i = lineStart; i < held.length; i++) {
      const c = held[i];
      if (c !== LF && c !== CR) continue;
      let terminator = 1;
      if (c === CR) {
        if (i + 1 >= held.length)
          crAtEnd = true; // a lone `\r` ends the line (an `\n` may follow)
        else if (held[i + 1] === LF) terminator = 2;
      }
      const next = i + terminator;
      if (i === lineStart) {
        // An empty line: the event block [blockStart, next) is complete.
        const block = held.subarray(blockStart, next);
        const replaced = rewriteBlock(block);
        out.push(replaced ?? block);
        blockStart = next;
        if (replaced !== null) {
          rewritten = true;
          passThrough = true;
          if (crAtEnd) dropLeadingLf = true;
          out.push(held.subarray(next));
          held = EMPTY;
          return Buffer.concat(out);
        }
      }
      lineStart = next;
      i = next - 1;
    }
    held = held.subarray(blockStart);
    if (held.length > maxBytesBeforeEndpoint) {
      // Not a stream we understand: stop holding bytes back.
      passThrough = true;
      out.push(held);
      held = EMPTY;
    }
    return out.length === 0 ? EMPTY : out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  function rewriteBlock(block: Buffer): Buffer | null {
    const event = parseOneEvent(block.toString('utf8'));
    if (event?.event !== 'endpoint') return null;
    const replacement = rewrite(event.data);
    if (replacement === null) return null;
    return Buffer.from(serializeEvent({ ...event, data: replacement }), 'utf8');
  }

  return {
    push,
    end() {
      passThrough = true;
      const rest = held;
      held = EMPTY;
      return rest;
    },
    get rewritten() {
      return rewritten;
    },
  };
}

function parseOneEvent(text: string): EventSourceMessage | null {
  let found: EventSourceMessage | null = null;
  const parser = createParser({
    onEvent: (event) => {
      found ??= event;
    },
  });
  // The parser cannot tell whether a final `\r` ends the line; the extra line ends settle it.
  parser.feed(`${text}\n\n`);
  return found;
}

export function serializeEvent(event: EventSourceMessage): string {
  let out = '';
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}
