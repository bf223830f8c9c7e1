// The JSON-RPC envelope of a request body, with bounded work and memory whatever the body.
// The proxy only observes: it needs the method, ids, tool name, `initialize`'s client info and a
// `_meta.traceparent`, never the arguments. A small body is parsed whole (JSON.parse is fastest
// there); of a large one only the first `SCAN_WINDOW_BYTES` are scanned, in their bytes, member
// by member, decoding only short values. What lies beyond the window (e.g. an `id` written after
// a huge `params`) stays unknown, as does anything unreadable, and the body is forwarded
// untouched all the same. A whole-body JSON.parse of 10 MiB of `[[[[...` held the event loop for
// 1.5 s and took 500 MB; a scan of all of it still costs 50-150 ms on a busy machine.
import {
  asRecord,
  bytesAre,
  idToString,
  PROTOCOL_VERSION_META_KEY,
  parseBytes,
  type RequestEnvelope,
  readRequestEnvelope,
  skipNestedBytes,
  skipPrimitiveBytes,
  skipSpaceBytes,
  skipStringBytes,
  str,
} from '../sessions/jsonrpc.js';

/** Bodies up to this size are parsed whole. */
export const FULL_PARSE_MAX_BYTES = 64 * 1024;
/** How much of a larger body is scanned: a few milliseconds of a busy event loop at most. */
export const SCAN_WINDOW_BYTES = 1024 * 1024;
/** Longest `method`, `id`, tool name or protocol version decoded from a large body. */
const MAX_SHORT_VALUE_BYTES = 1024;
/** Largest `clientInfo` or `_meta` object parsed from a large body. */
const MAX_SMALL_OBJECT_BYTES = 8 * 1024;
/** Request ids kept per body (a batch of more still counts every message). */
const MAX_IDS = 1024;

export function readRequestEnvelopeBounded(body: Buffer): RequestEnvelope {
  if (body.length <= FULL_PARSE_MAX_BYTES) return readRequestEnvelope(body.toString('utf8'));
  return scanRequestEnvelope(body, SCAN_WINDOW_BYTES);
}

function unknownEnvelope(): RequestEnvelope {
  return readRequestEnvelope('');
}

/** The end of the JSON value starting at `i` (an object, array, string or primitive), or -1. */
function skipValue(b: Uint8Array, i: number, end: number): number {
  if (i >= end) return -1;
  const c = b[i];
  if (c === 123 || c === 91) return skipNestedBytes(b, i, end);
  if (c === 34) return skipStringBytes(b, i, end);
  const after = skipPrimitiveBytes(b, i, end);
  return after > i ? after : -1;
}

/** A short value's parse, or undefined when it is long (not read) or not JSON. */
function parseShort(b: Uint8Array, from: number, to: number, max: number): unknown {
  return to - from <= max ? parseBytes(b, from, to) : undefined;
}

/**
 * Reads one message object at `i` into `env`; returns the index after it, or -1. With `partial`
 * (the window ends inside the message) what was read before the end still counts.
 */
function scanMessage(b: Uint8Array, i: number, end: number, env: RequestEnvelope, partial: boolean): number {
  let method: string | null = null;
  let id: string | null = null;
  let paramsFrom = -1;
  let paramsTo = -1;
  const after = eachMember(b, i, end, (keyFrom, keyTo, from, to) => {
    if (bytesAre(b, keyFrom, keyTo, 'params')) {
      if (b[from] === 123) {
        paramsFrom = from;
        paramsTo = to < 0 ? end : to;
      }
    } else if (to < 0) return;
    else if (bytesAre(b, keyFrom, keyTo, 'method'))
      method = str(parseShort(b, from, to, MAX_SHORT_VALUE_BYTES));
    else if (bytesAre(b, keyFrom, keyTo, 'id'))
      id = idToString(parseShort(b, from, to, MAX_SHORT_VALUE_BYTES));
  });
  if (after < 0 && !partial) return -1;
  env.count++;
  if (method !== null && id !== null) {
    if (env.ids.length < MAX_IDS) env.ids.push(id);
    env.expectsResponse = true;
  }
  if (env.method !== null || method === null) return after;
  env.method = method;
  env.id = id;
  if (paramsFrom >= 0) scanParams(b, paramsFrom, paramsTo, method, env);
  return after;
}

function scanParams(b: Uint8Array, from: number, to: number, method: string, env: RequestEnvelope): void {
  eachMember(b, from, to, (keyFrom, keyTo, vFrom, vTo) => {
    if (vTo < 0) return;
    if (method === 'tools/call' && bytesAre(b, keyFrom, keyTo, 'name'))
      env.toolName = str(parseShort(b, vFrom, vTo, MAX_SHORT_VALUE_BYTES));
    else if (method === 'initialize' && bytesAre(b, keyFrom, keyTo, 'protocolVersion'))
      env.protocolVersion = str(parseShort(b, vFrom, vTo, MAX_SHORT_VALUE_BYTES));
    else if (method === 'initialize' && bytesAre(b, keyFrom, keyTo, 'clientInfo')) {
      const client = asRecord(parseShort(b, vFrom, vTo, MAX_SMALL_OBJECT_BYTES));
      env.clientName = str(client?.['name']);
      env.clientVersion = str(client?.['version']);
    } else if (bytesAre(b, keyFrom, keyTo, '_meta')) {
      const meta = asRecord(parseShort(b, vFrom, vTo, MAX_SMALL_OBJECT_BYTES));
      env.metaTraceparent = str(meta?.['traceparent']);
      env.metaProtocolVersion = str(meta?.[PROTOCOL_VERSION_META_KEY]);
    }
  });
}

/**
 * Calls `member` with the bounds of each key (inside its quotes) and value of the object at `i`
 * (`b[i] === '{'`); returns the index after the object, or -1 when the bytes are not one. A value
 * that runs past `end` is reported with `valueTo` -1 (then -1 is returned).
 */
function eachMember(
  b: Uint8Array,
  i: number,
  end: number,
  member: (keyFrom: number, keyTo: number, valueFrom: number, valueTo: number) => void,
): number {
  i++;
  for (;;) {
    i = skipSpaceBytes(b, i, end);
    if (i >= end) return -1;
    const c = b[i];
    if (c === 125 /* } */) return i + 1;
    if (c === 44 /* , */) {
      i++;
      continue;
    }
    if (c !== 34) return -1;
    const keyEnd = skipStringBytes(b, i, end);
    if (keyEnd < 0) return -1;
    const keyFrom = i + 1;
    const keyTo = keyEnd - 1;
    i = skipSpaceBytes(b, keyEnd, end);
    if (i >= end || b[i] !== 58 /* : */) return -1;
    const valueFrom = skipSpaceBytes(b, i + 1, end);
    const valueTo = skipValue(b, valueFrom, end);
    if (valueFrom < end) member(keyFrom, keyTo, valueFrom, valueTo);
    if (valueTo < 0) return -1;
    i = valueTo;
  }
}

/**
 * The envelope from the first `window` bytes of a body: one pass, nothing decoded but short
 * values. On a whole well-formed body it agrees with `readRequestEnvelope` (tested); a body that
 * is not well-formed JSON is unknown; a body longer than the window gives what its first message
 * said within the window.
 */
export function scanRequestEnvelope(b: Uint8Array, window = b.length): RequestEnvelope {
  const partial = b.length > window;
  const end = Math.min(b.length, window);
  const env = unknownEnvelope();
  let i = skipSpaceBytes(b, 0, end);
  if (i >= end) return env;
  if (b[i] === 123) {
    const after = scanMessage(b, i, end, env, partial);
    if (partial) return env;
    // Trailing bytes after the object make it invalid JSON, which JSON.parse would refuse whole.
    return after >= 0 && skipSpaceBytes(b, after, end) === end ? env : unknownEnvelope();
  }
  if (b[i] !== 91) return env;
  // A batch: each element that is an object is a message; anything else is skipped.
  i++;
  for (;;) {
    i = skipSpaceBytes(b, i, end);
    if (i >= end) return partial ? env : unknownEnvelope();
    const c = b[i];
    if (c === 93 /* ] */) return skipSpaceBytes(b, i + 1, end) === end ? env : unknownEnvelope();
    if (c === 44) {
      i++;
      continue;
    }
    const next = c === 123 ? scanMessage(b, i, end, env, partial) : skipValue(b, i, end);
    if (next < 0) return partial ? env : unknownEnvelope();
    i = next;
  }
}
