// Cheap, never-throwing readers for JSON-RPC envelopes seen on the wire.
// The proxy only needs the envelope (method, id, error) of each message, not the
// payload, so responses are scanned for their top-level members instead of being
// fully parsed: a 30 KB tools/list result costs one pass of indexOf/regex, and no
// object allocation for the result tree.

export interface RequestEnvelope {
  /** Number of JSON-RPC messages (a batch has several). 0 when the body is not JSON-RPC. */
  count: number;
  /** Method of the first request or notification, or null. */
  method: string | null;
  /** Id of the first request (a message with both method and id), stringified. */
  id: string | null;
  /** All request ids in the body (for correlating responses on streams). */
  ids: string[];
  /** `params.name` of a `tools/call`. */
  toolName: string | null;
  /** True when at least one message expects a response (has method and id). */
  expectsResponse: boolean;
  /** `params.protocolVersion` / `params.clientInfo` of `initialize`. */
  protocolVersion: string | null;
  clientName: string | null;
  clientVersion: string | null;
  /** `params._meta.traceparent` (SEP-414), when present. */
  metaTraceparent: string | null;
  /**
   * `params._meta["io.modelcontextprotocol/protocolVersion"]`: the per-request envelope of
   * revision 2026-07-28, which replaces the `initialize` handshake.
   */
  metaProtocolVersion: string | null;
}

export interface ResponseEnvelope {
  /** Stringified id, or null (notifications, errors with id null). */
  id: string | null;
  /** Present on requests/notifications sent by the server. */
  method: string | null;
  isResponse: boolean;
  /** The message has an `error` member. */
  hasError: boolean;
  errorCode: number | null;
  errorMessage: string | null;
}

/**
 * A fresh empty envelope (callers may keep or extend `ids`). A literal, not a spread of a frozen
 * template: V8 copies a frozen object's properties one by one in the runtime (about 0.24 µs
 * against 0.015 µs in a loop), and every proxied POST makes one.
 */
function emptyRequest(): RequestEnvelope {
  return {
    count: 0,
    method: null,
    id: null,
    ids: [],
    toolName: null,
    expectsResponse: false,
    protocolVersion: null,
    clientName: null,
    clientVersion: null,
    metaTraceparent: null,
    metaProtocolVersion: null,
  };
}

/** The `_meta` key of revision 2026-07-28 that names the protocol version of one request. */
export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';

/** @internal Also read by the proxy's bounded request reader. */
export function idToString(id: unknown): string | null {
  if (typeof id === 'string') return id;
  if (typeof id === 'number') return String(id);
  return null;
}

/** @internal Also read by the proxy's bounded request reader. */
export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** @internal Also read by the proxy's bounded request reader. */
export function asRecord(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** Request bodies are small single messages: a full parse is cheap and simplest. */
export function readRequestEnvelope(body: string): RequestEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return emptyRequest();
  }
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  const env = emptyRequest();
  for (const m of messages) {
    const msg = asRecord(m);
    if (!msg) continue;
    env.count++;
    const method = str(msg['method']);
    const id = idToString(msg['id']);
    if (method !== null && id !== null) {
      env.ids.push(id);
      env.expectsResponse = true;
    }
    if (env.method !== null || method === null) continue;
    env.method = method;
    env.id = id;
    const params = asRecord(msg['params']);
    if (!params) continue;
    if (method === 'tools/call') env.toolName = str(params['name']);
    if (method === 'initialize') {
      env.protocolVersion = str(params['protocolVersion']);
      const client = asRecord(params['clientInfo']);
      env.clientName = str(client?.['name']);
      env.clientVersion = str(client?.['version']);
    }
    const meta = asRecord(params['_meta']);
    env.metaTraceparent = str(meta?.['traceparent']);
    env.metaProtocolVersion = str(meta?.[PROTOCOL_VERSION_META_KEY]);
  }
  return env;
}

const NOT_JSONRPC: ResponseEnvelope = Object.freeze({
  id: null,
  method: null,
  isResponse: false,
  hasError: false,
  errorCode: null,
  errorMessage: null,
}) as ResponseEnvelope;

/** Index just past the string that opens at `start` (text[start] === '"'), or -1. */
function skipString(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return -1;
    let backslashes = 0;
    for (let j = q - 1; j > start && text.charCodeAt(j) === 92; j--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/**
 * Index just past the object/array that opens at `start`, or -1. A loop over char codes
 * that jumps over strings with `indexOf`: a regex finding the next structural character
 * allocated a match per token and cost as much as `JSON.parse` on a 38 KB `tools/list`
 * (62 vs 17 µs, bench/README.md).
 */
function skipNested(text: string, start: number): number {
  let depth = 0;
  const n = text.length;
  for (let i = start; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = skipString(text, i);
      if (end < 0) return -1;
      i = end - 1;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past a JSON primitive (number, true, false, null) starting at `i`. */
function skipPrimitive(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 44 || c === 125 || c === 93 || isSpace(c)) break; // , } ]
    i++;
  }
  return i;
}

function parseSlice(text: string, from: number, to: number): unknown {
  try {
    return JSON.parse(text.slice(from, to));
  } catch {
    return undefined;
  }
}

/**
 * The envelope of one message from its top-level members: `error` is the parsed value of its
 * `error` member (read only when `hasError`).
 */
function envelopeOf(
  id: string | null,
  method: string | null,
  hasResult: boolean,
  hasError: boolean,
  error: unknown,
): ResponseEnvelope {
  const err = hasError ? asRecord(error) : null;
  return {
    id,
    method,
    isResponse: method === null && (hasResult || hasError),
    hasError,
    errorCode: typeof err?.['code'] === 'number' ? (err['code'] as number) : null,
    errorMessage: str(err?.['message']),
  };
}

/**
 * Reads the top-level members of one JSON-RPC message without building its
 * `result`/`params` trees. Falls back to a full parse for batches. Never throws.
 */
export function readResponseEnvelope(text: string): ResponseEnvelope {
  let i = skipSpace(text, 0);
  const first = text.charCodeAt(i);
  if (first === 91 /* [ */) return readBatchFirst(text);
  if (first !== 123 /* { */) return NOT_JSONRPC;
  let id: string | null = null;
  let method: string | null = null;
  let hasResult = false;
  let errorFrom = -1;
  let errorTo = -1;
  i++;
  for (;;) {
    i = skipSpace(text, i);
    const c = text.charCodeAt(i);
    if (c === 125 /* } */) break;
    if (c === 44 /* , */) {
      i++;
      continue;
    }
    if (c !== 34 /* " */) return NOT_JSONRPC;
    const keyEnd = skipString(text, i);
    if (keyEnd < 0) return NOT_JSONRPC;
    const key = text.slice(i + 1, keyEnd - 1);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== 58 /* : */) return NOT_JSONRPC;
    i = skipSpace(text, i + 1);
    const v = text.charCodeAt(i);
    let end: number;
    if (v === 123 || v === 91) end = skipNested(text, i);
    else if (v === 34) end = skipString(text, i);
    else end = skipPrimitive(text, i);
    if (end < 0 || end <= i) return NOT_JSONRPC;
    if (key === 'id') id = idToString(parseSlice(text, i, end));
    else if (key === 'method') method = str(parseSlice(text, i, end));
    else if (key === 'result') hasResult = true;
    else if (key === 'error') {
      errorFrom = i;
      errorTo = end;
    }
    i = end;
  }
  const hasError = errorFrom >= 0;
  return envelopeOf(id, method, hasResult, hasError, hasError ? parseSlice(text, errorFrom, errorTo) : null);
}

function readBatchFirst(text: string): ResponseEnvelope {
  const parsed = parseSlice(text, 0, text.length);
  if (!Array.isArray(parsed)) return NOT_JSONRPC;
  // A batch answer: report the first error if any, else the first message.
  let firstEnv: ResponseEnvelope | null = null;
  for (const m of parsed) {
    const env = readParsedMessage(m);
    if (env.hasError) return env;
    firstEnv ??= env;
  }
  return firstEnv ?? NOT_JSONRPC;
}

function readParsedMessage(m: unknown): ResponseEnvelope {
  const msg = asRecord(m);
  if (!msg) return NOT_JSONRPC;
  return envelopeOf(idToString(msg['id']), str(msg['method']), 'result' in msg, 'error' in msg, msg['error']);
}

/**
 * The protocol versions an answer says the upstream speaks: the `initialize` result's
 * `protocolVersion`, the `server/discover` result's `supportedVersions`, or the `supported` list
 * of a -32022 (unsupported protocol version) error. Empty when it says none. Never throws.
 */
export function readAnsweredVersions(text: string): string[] {
  const msg = asRecord(parseSlice(text, 0, text.length));
  const result = asRecord(msg?.['result']);
  const error = asRecord(msg?.['error']);
  const listed = result?.['supportedVersions'] ?? asRecord(error?.['data'])?.['supported'];
  const versions = Array.isArray(listed) ? listed : [result?.['protocolVersion']];
  return versions.filter((v): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64);
}

/** Full parse of an `initialize` result, to learn the server's name, version and protocol. */
export function readInitializeResult(text: string): {
  protocolVersion: string | null;
  serverName: string | null;
  serverVersion: string | null;
} {
  const msg = asRecord(parseSlice(text, 0, text.length));
  const result = asRecord(msg?.['result']);
  const info = asRecord(result?.['serverInfo']);
  return {
    protocolVersion: str(result?.['protocolVersion']),
    serverName: str(info?.['name']),
    serverVersion: str(info?.['version']),
  };
}

// ---- The same reader over bytes ------------------------------------------------------------
// A body read off the wire need not become a string: JSON's structural characters are ASCII,
// and UTF-8 never uses an ASCII byte inside a multi-byte character, so the members can be
// found in the bytes and only the few values the envelope keeps (id, method, error) decoded.
// A 38 KB answer then allocates nothing the size of the body. It costs about what the text
// reader costs on the decoded text; whether the saved allocation shows in the proxy's garbage
// collection was not settled by the bench (bench/README.md). SseReader hands events over as bytes.

/** @internal Also read by the proxy's bounded request reader. */
export function skipStringBytes(b: Uint8Array, start: number, end: number): number {
  let i = start + 1;
  for (;;) {
    const q = b.indexOf(34, i);
    if (q < 0 || q >= end) return -1;
    let backslashes = 0;
    for (let j = q - 1; j > start && b[j] === 92; j--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** @internal Also read by the proxy's bounded request reader. */
export function skipNestedBytes(b: Uint8Array, start: number, end: number): number {
  let depth = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 34) {
      const after = skipStringBytes(b, i, end);
      if (after < 0) return -1;
      i = after - 1;
    } else if (c === 123 || c === 91) {
      depth++;
    } else if (c === 125 || c === 93) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** @internal Also read by the proxy's bounded request reader. */
export function skipSpaceBytes(b: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(b[i]!)) i++;
  return i;
}

/** @internal Also read by the proxy's bounded request reader. */
export function skipPrimitiveBytes(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c === 44 || c === 125 || c === 93 || isSpace(c)) break;
    i++;
  }
  return i;
}

function decode(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('utf8');
}

/** @internal Also read by the proxy's bounded request reader. */
export function parseBytes(b: Uint8Array, from: number, to: number): unknown {
  try {
    return JSON.parse(decode(b, from, to));
  } catch {
    return undefined;
  }
}

/** The bytes `[from, to)` spell the ASCII `word`. */
/** @internal Also read by the proxy's bounded request reader. */
export function bytesAre(b: Uint8Array, from: number, to: number, word: string): boolean {
  if (to - from !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[from + k] !== word.charCodeAt(k)) return false;
  return true;
}

/**
 * `readResponseEnvelope` over UTF-8 bytes (`[from, to)` of `bytes`): the same answer as
 * `readResponseEnvelope(decoded text)`, without decoding the body. Never throws.
 */
export function readResponseEnvelopeBytes(bytes: Uint8Array, from = 0, to = bytes.length): ResponseEnvelope {
  const b = bytes;
  let i = skipSpaceBytes(b, from, to);
  const first = i < to ? b[i] : -1;
  if (first === 91 /* [ */) return readBatchFirst(decode(b, from, to));
  if (first !== 123 /* { */) return NOT_JSONRPC;
  let id: string | null = null;
  let method: string | null = null;
  let hasResult = false;
  let errorFrom = -1;
  let errorTo = -1;
  i++;
  for (;;) {
    i = skipSpaceBytes(b, i, to);
    if (i >= to) return NOT_JSONRPC;
    const c = b[i];
    if (c === 125 /* } */) break;
    if (c === 44 /* , */) {
      i++;
      continue;
    }
    if (c !== 34 /* " */) return NOT_JSONRPC;
    const keyEnd = skipStringBytes(b, i, to);
    if (keyEnd < 0) return NOT_JSONRPC;
    const keyFrom = i + 1;
    const keyTo = keyEnd - 1;
    i = skipSpaceBytes(b, keyEnd, to);
    if (i >= to || b[i] !== 58 /* : */) return NOT_JSONRPC;
    i = skipSpaceBytes(b, i + 1, to);
    const v = b[i];
    let end: number;
    if (i >= to) end = -1;
    else if (v === 123 || v === 91) end = skipNestedBytes(b, i, to);
    else if (v === 34) end = skipStringBytes(b, i, to);
    else end = skipPrimitiveBytes(b, i, to);
    if (end < 0 || end <= i) return NOT_JSONRPC;
    if (bytesAre(b, keyFrom, keyTo, 'id')) id = idToString(parseBytes(b, i, end));
    else if (bytesAre(b, keyFrom, keyTo, 'method')) method = str(parseBytes(b, i, end));
    else if (bytesAre(b, keyFrom, keyTo, 'result')) hasResult = true;
    else if (bytesAre(b, keyFrom, keyTo, 'error')) {
      errorFrom = i;
      errorTo = end;
    }
    i = end;
  }
  const hasError = errorFrom >= 0;
  return envelopeOf(id, method, hasResult, hasError, hasError ? parseBytes(b, errorFrom, errorTo) : null);
}
