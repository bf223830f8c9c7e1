import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { redactText } from '../security/redact.js';
import { type RequestEnvelope, readRequestEnvelope } from '../sessions/jsonrpc.js';
import type { ExchangeHandle, SessionTracker } from '../sessions/tracker.js';
import { injectMetaTraceparent } from '../telemetry/traceContext.js';
import { type BodyObserver, bodyKindFor, createBodyObserver } from './bodyObserver.js';
import { jsonRpcIdFrom, PROXY_ERROR, sendJsonRpcError } from './errors.js';
import type { H1Handler } from './h1client.js';
import type { ClientResponse, FastRequest } from './h1server.js';
import {
  type ForwardedRequestHeaders,
  rawResponseHeadersForClient,
  requestHeadersForUpstream,
} from './headers.js';
import { type ResolvedUpstream, upstreamPathFor } from './upstreams.js';

export interface ForwardContext {
  tracker: SessionTracker;
  logger: Logger;
  maxBodyBytes: number;
  /** Keyed hash of the caller's credential (or address); called once per new session. */
  callerHash?: (credential: string | null, address: string | undefined) => string | null;
  /**
   * Extra request headers (e.g. the `traceparent` telemetry adds); each replaces a client
   * header of the same name. `incomingTraceparent` is the client's, read with the other headers.
   */
  extraRequestHeaders?: (handle: ExchangeHandle, incomingTraceparent: string | null) => string[] | null;
  /** A standalone GET stream was established (2xx headers): telemetry records its open. */
  onStreamOpened?: (handle: ExchangeHandle) => void;
  /** Called when the exchange is over (telemetry). */
  onFinished?: (handle: ExchangeHandle) => void;
  /** Open standalone GET streams, so that shutdown can end them instead of waiting. */
  openStreams?: Set<ClientResponse>;
  /** `telemetry.injectMeta`: also put the forwarded `traceparent` into `params._meta` (SEP-414). */
  injectMeta?: boolean;
  /** Map a downstream session id to the upstream one (heal mode, later). */
  mapSessionId?: (upstream: string, sessionId: string) => string | null;
}

const EMPTY_ENVELOPE: RequestEnvelope = readRequestEnvelope('');

class BodyTooLarge extends Error {}

/** Reads a request body up to `max` bytes; rejects as soon as it is exceeded, without buffering the rest. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** A POST body within the limit, or null after answering 413 (or dropping a broken connection) itself. */
export async function readBodyOrReject(
  req: IncomingMessage,
  res: ServerResponse,
  max: number,
): Promise<Buffer | null> {
  try {
    return await readBody(req, max);
  } catch (err) {
    if (err instanceof BodyTooLarge) rejectTooLarge(req, res, max);
    else res.destroy();
    return null;
  }
}

export function describeUpstreamError(err: unknown): { timedOut: boolean; message: string } {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const code = e?.code ?? e?.cause?.code;
  // undici's codes: the legacy SSE path's errors come from undici, the rest from h1client.ts.
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { timedOut: true, message: 'no response headers in time' };
  }
  return { timedOut: false, message: code ? `${code}` : (e?.message ?? 'connection failed') };
}

/**
 * Forwards one Streamable HTTP request (`POST`/`GET`/`DELETE`) to the upstream
 * byte for byte and streams the answer back, while the tracker observes it.
 * Request bodies are read first (bounded by `maxBodyBytes`): JSON-RPC POST bodies
 * are single small messages, and knowing their envelope lets the tracker time the
 * exchange; responses (JSON or SSE) are never buffered.
 */
export async function forwardStreamableHttp(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: ResolvedUpstream,
  clientQuery: string,
  ctx: ForwardContext,
): Promise<void> {
  const method = req.method ?? 'GET';
  const fwd = headersForUpstream(req.rawHeaders, upstream, ctx);
  if (fwd.contentLength !== null && fwd.contentLength > ctx.maxBodyBytes) {
    rejectTooLarge(req, res, ctx.maxBodyBytes);
    return;
  }
  let body: Buffer | null = null;
  if (method === 'POST') {
    body = await readBodyOrReject(req, res, ctx.maxBodyBytes);
    if (body === null) return;
  }
  forwardRequest(method, fwd, body, req.socket.remoteAddress, res, upstream, clientQuery, ctx);
}

/**
 * The same for a request the fast front (`h1server.ts`) took: its head is parsed and its body
 * read whole, within `maxBodyBytes`, already.
 */
export function forwardFastRequest(
  req: FastRequest,
  res: ClientResponse,
  upstream: ResolvedUpstream,
  clientQuery: string,
  ctx: ForwardContext,
): void {
  const fwd = headersForUpstream(req.rawHeaders, upstream, ctx);
  forwardRequest(req.method, fwd, req.body, req.remoteAddress, res, upstream, clientQuery, ctx);
}

function headersForUpstream(
  rawHeaders: string[],
  upstream: ResolvedUpstream,
  ctx: ForwardContext,
): ForwardedRequestHeaders {
  if (!ctx.mapSessionId) return requestHeadersForUpstream(rawHeaders, null);
  const sessionId = firstRaw(rawHeaders, 'mcp-session-id');
  return requestHeadersForUpstream(rawHeaders, sessionId ? ctx.mapSessionId(upstream.id, sessionId) : null);
}

function forwardRequest(
  method: string,
  fwd: ForwardedRequestHeaders,
  requestBody: Buffer | null,
  remoteAddress: string | undefined,
  res: ClientResponse,
  upstream: ResolvedUpstream,
  clientQuery: string,
  ctx: ForwardContext,
): void {
  let body = requestBody;
  const envelope = body === null ? EMPTY_ENVELOPE : readRequestEnvelope(body.toString('utf8'));
  const handle = ctx.tracker.begin({
    upstream: upstream.id,
    transport: 'streamable-http',
    httpMethod: method,
    sessionId: fwd.sessionId,
    request: envelope,
    callerHash: fwd.sessionId === null ? (ctx.callerHash?.(fwd.authorization, remoteAddress) ?? null) : null,
    protocolVersion: fwd.protocolVersion,
  });
  const extra = ctx.extraRequestHeaders?.(handle, fwd.traceparent);
  let headers = fwd.headers;
  if (extra) {
    // The header list is ours: append in place unless the client sent a header being replaced.
    if (extra.length === 2 && extra[0] === 'traceparent' && fwd.traceparent === null)
      headers.push(extra[0], extra[1]!);
    else headers = replaceHeaders(headers, extra);
    if (ctx.injectMeta && body !== null) body = withMetaTraceparent(body, headers, extra);
  }

  const relay = new UpstreamRelay(res, upstream, method, handle, ctx, envelope, body);
  res.once('close', relay.onClientClose);
  // A plain handler: no promise, no response object or body stream, no parsed header object
  // per request; the raw headers and body chunks come straight to us.
  upstream.h1.dispatch(
    {
      method,
      path: upstreamPathFor(upstream, clientQuery),
      headers,
      body,
      headersTimeout: upstream.timeoutMs,
    },
    relay,
  );
}

type Finish = Parameters<ExchangeHandle['finish']>[0];
const NOOP_OBSERVER: BodyObserver = { push() {}, end: () => null, events: 0 };

/**
 * One forwarded request's handler (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`,
 * undici's plain dispatch form, which `h1client.ts` keeps). Each chunk goes to the client
 * first, then to the observer; a full client socket pauses the upstream.
 */
class UpstreamRelay implements H1Handler {
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private observer: BodyObserver = NOOP_OBSERVER;
  private clientGone = false;
  private upstreamDone = false;
  private relayed = false;
  private finished = false;
  /** An SSE answer: its writes are corked per upstream read (see `cork`). */
  private sse = false;
  /** The client socket is corked until the current upstream read has been relayed. */
  private corked = false;

  constructor(
    private readonly res: ClientResponse,
    private readonly upstream: ResolvedUpstream,
    private readonly method: string,
    private readonly handle: ExchangeHandle,
    private readonly ctx: ForwardContext,
    private readonly envelope: RequestEnvelope,
    private readonly body: Buffer | null,
  ) {}

  /** The client went away (or shutdown ended a GET stream): stop the upstream request too. */
  readonly onClientClose = (): void => {
    if (this.upstreamDone) return;
    this.clientGone = true;
    this.abortUpstream?.(new Error('client disconnected'));
    this.finish({ clientAborted: true, aborted: true, errorText: 'client disconnected' });
  };

  private readonly onDrain = (): void => {
    this.resumeUpstream?.();
  };

  private readonly uncork = (): void => {
    this.corked = false;
    this.res.uncork();
  };

  /**
   * Holds writes to the client until the client has handed over everything it parsed from the
   * current upstream read: the headers (flushed at once for SSE), body chunks and the chunked
   * terminator of an SSE answer that arrive together leave in one `writev` instead of one
   * syscall each. Released on the next tick (or by `res.end()`, which uncorks fully), so nothing
   * waits for more upstream bytes. JSON answers need none of this: Node already sends their
   * headers with a Content-Length body in one write.
   */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.res.cork();
    process.nextTick(this.uncork);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.clientGone) abort(new Error('client disconnected'));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void): boolean {
    this.resumeUpstream = resume;
    const res = this.res;
    const handle = this.handle;
    const ctx = this.ctx;
    const relayed = rawResponseHeadersForClient(rawHeaders);
    handle.headers(statusCode, relayed.sessionId);
    if (this.method === 'GET' && statusCode >= 200 && statusCode < 300) {
      ctx.tracker.streamOpened(handle);
      ctx.onStreamOpened?.(handle);
    }
    this.observer = createBodyObserver(bodyKindFor(statusCode, relayed.contentType), handle);
    this.relayed = true;
    this.sse = relayed.contentType?.startsWith('text/event-stream') === true;
    if (this.sse) this.cork();
    res.writeHead(statusCode, relayed.headers);
    if (this.method === 'GET' && ctx.openStreams) {
      const streams = ctx.openStreams;
      streams.add(res);
      res.once('close', () => streams.delete(res));
    }
    // SSE clients must see headers before the first event arrives (they leave on uncork).
    if (this.sse) res.flushHeaders();
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.sse) this.cork();
    const ok = this.res.write(chunk);
    this.observer.push(chunk);
    // Backpressure: a slow client pauses the upstream body until its socket drains.
    if (!ok) this.res.once('drain', this.onDrain);
    return ok;
  }

  onComplete(): void {
    this.upstreamDone = true;
    this.res.end();
    this.finish({ errorText: safeEnd(this.observer) });
  }

  onError(err: Error): void {
    this.upstreamDone = true;
    if (this.clientGone) return;
    if (this.relayed) {
      // The answer had started: the client sees the stream break, as it would have directly.
      safeEnd(this.observer);
      this.finish({ aborted: true, errorText: describeUpstreamError(err).message });
      this.res.destroy();
      return;
    }
    const { timedOut, message } = describeUpstreamError(err);
    this.finish({ timedOut, connectionFailed: !timedOut, errorText: message });
    const upstream = this.upstream;
    const id = jsonRpcIdFrom(this.envelope.id, this.body ? this.body.toString('utf8') : null);
    if (timedOut) {
      sendJsonRpcError(
        this.res,
        504,
        PROXY_ERROR.upstreamTimeout,
        `mcp-session-probe: upstream "${upstream.id}" sent no response within ${upstream.timeoutMs / 1000}s`,
        id,
      );
    } else {
      sendJsonRpcError(
        this.res,
        502,
        PROXY_ERROR.upstreamUnreachable,
        `mcp-session-probe: upstream "${upstream.id}" is unreachable (${redactText(message)})`,
        id,
      );
    }
  }

  private finish(f: Finish): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.handle.finish(f);
      this.ctx.onFinished?.(this.handle);
    } catch (err) {
      this.ctx.logger.warn('observation failed; forwarding unaffected', { err });
    }
  }
}

/** `base` with the `extra` [name, value, ...] pairs replacing same-named headers (case-insensitive). */
export function replaceHeaders(base: string[], extra: string[]): string[] {
  const names = new Set<string>();
  for (let i = 0; i < extra.length; i += 2) names.add(extra[i]!.toLowerCase());
  const out: string[] = [];
  for (let i = 0; i < base.length; i += 2) {
    if (!names.has(base[i]!.toLowerCase())) out.push(base[i]!, base[i + 1]!);
  }
  return out.concat(extra);
}

/**
 * The body with `params._meta.traceparent` set (only when asked: it is the one case where the
 * proxy changes what the upstream receives), and `headers`' Content-Length updated in place.
 */
function withMetaTraceparent(body: Buffer, headers: string[], extra: readonly string[]): Buffer {
  const at = extra.indexOf('traceparent');
  const traceparent = at >= 0 && at % 2 === 0 ? extra[at + 1] : undefined;
  const rewritten = traceparent ? injectMetaTraceparent(body.toString('utf8'), traceparent) : null;
  if (rewritten === null) return body;
  const next = Buffer.from(rewritten, 'utf8');
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'content-length') headers[i + 1] = String(next.length);
  }
  return next;
}

function safeEnd(observer: { end(): string | null }): string | null {
  try {
    const text = observer.end();
    return text === null ? null : redactText(text);
  } catch {
    return null;
  }
}

/** The first value of a header (`name` in lower case) in a raw [name, value, ...] list. */
function firstRaw(rawHeaders: readonly string[], name: string): string | null {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name)
      return rawHeaders[i + 1]!;
  }
  return null;
}

export function rejectTooLarge(req: IncomingMessage, res: ServerResponse, max: number): void {
  sendJsonRpcError(
    res,
    413,
    PROXY_ERROR.bodyTooLarge,
    `mcp-session-probe: request body exceeds the ${max}-byte limit (server.maxBodyBytes)`,
    null,
    { connection: 'close' },
  );
  // Do not read the rest: close once the answer is out.
  res.once('finish', () => req.destroy());
}
