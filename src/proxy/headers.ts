// Which headers cross the proxy. End-to-end headers pass both ways untouched
// (Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, WWW-Authenticate,
// Content-Type, Authorization, traceparent...); hop-by-hop ones (RFC 9110 §7.6.1),
// those naming this connection, and the message framing (Content-Length,
// Transfer-Encoding) do not. Each side's framing is derived by the proxy for the
// bytes it actually sends: undici frames the request from the body it is given, and
// the relay frames the answer from what undici's parser accepted. Forwarding an
// upstream's Content-Length beside its Transfer-Encoding is how a response is split
// (RFC 9112 §6.3).

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

const DIGITS = /^\d{1,15}$/;

function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (!value) return null;
  // The usual values name no header: skip the split on every keep-alive response.
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return null;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const tokens = new Set<string>();
  for (const t of joined.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') tokens.add(name);
  }
  return tokens.size > 0 ? tokens : null;
}

export interface ForwardedRequestHeaders {
  /** Flat [name, value, ...] list for undici, original case and order kept. */
  headers: string[];
  sessionId: string | null;
  protocolVersion: string | null;
  authorization: string | null;
  contentLength: number | null;
  /** The client's `traceparent` (first one), for telemetry's parent and to replace it rather than append. */
  traceparent: string | null;
}

/**
 * Filters the client's raw headers for the upstream and picks out what the
 * tracker needs, in one pass. `sessionIdOverride` lets a later heal mode map a
 * downstream session id to a new upstream one without touching anything else.
 */
export function requestHeadersForUpstream(
  rawHeaders: readonly string[],
  sessionIdOverride?: string | null,
): ForwardedRequestHeaders {
  const out: string[] = [];
  let sessionId: string | null = null;
  let protocolVersion: string | null = null;
  let authorization: string | null = null;
  let contentLength: number | null = null;
  let traceparent: string | null = null;
  let dropped: Set<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      dropped = connectionTokens(rawHeaders[i + 1]);
      break;
    }
  }
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    let value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    // Read even when `Connection` names it: telemetry takes it as the parent either way.
    if (lower === 'traceparent') traceparent ??= value;
    else if (lower === 'content-length') contentLength = Number(value);
    if (HOP_BY_HOP.has(lower) || dropped?.has(lower)) continue;
    switch (lower) {
      case 'mcp-session-id':
        sessionId = value;
        if (sessionIdOverride) value = sessionIdOverride;
        break;
      case 'mcp-protocol-version':
        protocolVersion = value;
        break;
      case 'authorization':
        authorization = value;
        break;
    }
    out.push(name, value);
  }
  return { headers: out, sessionId, protocolVersion, authorization, contentLength, traceparent };
}

export function firstHeader(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

export interface RelayedResponseHeaders {
  /** Flat [name, value, ...] list for `res.writeHead`, original case, order and repeats kept. */
  headers: string[];
  sessionId: string | null;
  contentType: string | null;
  /**
   * The body length the upstream framed its answer with, when it framed it by length alone
   * (one Content-Length value, no Transfer-Encoding): undici's parser then delivers exactly that
   * many bytes or fails the response, so the relay may announce it to the client. Null otherwise
   * (the client gets a chunked answer).
   */
  contentLength: string | null;
}

/**
 * The upstream's raw response headers minus hop-by-hop ones, in one pass and without building
 * an object: undici's `Buffer` pairs as `dispatch` hands them over, or the strings `request`
 * gives with `responseHeaders: 'raw'` (legacy SSE). latin1 keeps every byte as it was: Node
 * writes header strings back out as latin1.
 */
export function rawResponseHeadersForClient(raw: readonly (Buffer | string)[]): RelayedResponseHeaders {
  const out: string[] = [];
  let sessionId: string | null = null;
  let contentType: string | null = null;
  let connection: string | null = null;
  let contentLength: string | null = null;
  let lengthFramed = true;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const value = raw[i + 1]!.toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') connection = connection === null ? value : `${connection},${value}`;
      else if (lower === 'content-length') {
        if (!DIGITS.test(value) || (contentLength !== null && contentLength !== value)) lengthFramed = false;
        contentLength = value;
      } else if (lower === 'transfer-encoding') lengthFramed = false;
      continue;
    }
    if (lower === 'content-type') contentType ??= value;
    else if (lower === 'mcp-session-id') sessionId ??= value;
    out.push(name, value);
  }
  if (!lengthFramed) contentLength = null;
  const dropped = connectionTokens(connection ?? undefined);
  if (dropped === null) return { headers: out, sessionId, contentType, contentLength };
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    if (!dropped.has(out[i]!.toLowerCase())) kept.push(out[i]!, out[i + 1]!);
  }
  return {
    headers: kept,
    sessionId: dropped.has('mcp-session-id') ? null : sessionId,
    contentType: dropped.has('content-type') ? null : contentType,
    contentLength,
  };
}
