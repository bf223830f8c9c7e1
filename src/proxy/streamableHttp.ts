import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { CredentialWatch, WatchedCredential } from '../auth/credentialWatch.js';
import type { Logger } from '../log.js';
import { redactText } from '../security/redact.js';
import { type RequestEnvelope, readRequestEnvelope } from '../sessions/jsonrpc.js';
import type { ExchangeHandle, SessionTracker } from '../sessions/tracker.js';
import { injectMetaTraceparent } from '../telemetry/traceContext.js';
import { RETRY_AFTER_SECONDS } from './admission.js';
import { type BodyObserver, bodyKindFor, createBodyObserver } from './bodyObserver.js';
import { jsonRpcIdFrom, PROXY_ERROR, sendJsonRpcError } from './errors.js';
import {
  type ForwardedRequestHeaders,
  rawResponseHeadersForClient,
  requestHeadersForUpstream,
} from './headers.js';
import { type BodyLimits, readRequestBody } from './requestBody.js';
import { readRequestEnvelopeBounded } from './requestEnvelope.js';
import { type ResolvedUpstream, upstreamPathFor } from './upstreams.js';

export interface ForwardContext {
  tracker: SessionTracker;
  logger: Logger;
  /** `server.maxBodyBytes`, `maxBufferedBodyBytes` and `bodyTimeoutSeconds` (requestBody.ts). */
  body: BodyLimits;
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
  openStreams?: Set<ServerResponse>;
  /** `telemetry.injectMeta`: also put the forwarded `traceparent` into `params._meta` (SEP-414). */
  injectMeta?: boolean;
  /** Map a downstream session id to the upstream one (heal mode, later). */
  mapSessionId?: (upstream: string, sessionId: string) => string | null;
  /** Credential lifetime: each request's credential and the upstream's answer to it (src/auth/credentialWatch.ts). */
  credentialWatch?: CredentialWatch;
}

const EMPTY_ENVELOPE: RequestEnvelope = readRequestEnvelope('');
const NOTHING_HELD = () => {};

/** The upstream's `timeoutSeconds` passed before its answer began (queueing for a connection included). */
export class UpstreamDeadline extends Error {
  constructor() {
    super('no response headers in time');
  }
}

export function describeUpstreamError(err: unknown): { timedOut: boolean; message: string } {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const code = e?.code ?? e?.cause?.code;
  if (
    err instanceof UpstreamDeadline ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return { timedOut: true, message: 'no response headers in time' };
  }
  return { timedOut: false, message: code ? `${code}` : (e?.message ?? 'connection failed') };
}

/**
 * Forwards one Streamable HTTP request (`POST`/`GET`/`DELETE`) to the upstream
 * byte for byte and streams the answer back, while the tracker observes it.
 * Request bodies are read first (bounded in size, in bytes held across requests and in time:
 * requestBody.ts): JSON-RPC POST bodies are single small messages, knowing their envelope lets
 * the tracker time the exchange, and a later heal mode replays them; responses (JSON or SSE) are
 * never buffered.
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
  let body: Buffer | null = null;
  let release = NOTHING_HELD;
  if (method === 'POST') {
    const held = await readRequestBody(req, res, fwd.contentLength, ctx.body);
    if (held === null) return;
    body = held.bytes;
    release = held.release;
  }
  // GET opens a long-lived stream: it has a pool of its own and is not request traffic.
  const isStream = method === 'GET';
  if (!isStream && !upstream.admission.tryEnter()) {
    release();
    rejectOverloaded(res, upstream);
    return;
  }
  forwardRequest(
    method,
    fwd,
    body,
    release,
    req.socket.remoteAddress,
    res,
    upstream,
    clientQuery,
    ctx,
    !isStream,
  );
}

/** The circuit breaker is open: 503 with Retry-After at once, without touching the upstream. */
export function rejectOverloaded(res: ServerResponse, upstream: ResolvedUpstream): void {
  sendJsonRpcError(
    res,
    503,
    PROXY_ERROR.upstreamOverloaded,
    `mcp-session-probe: upstream "${upstream.id}" has ${upstream.admission.limit} requests in flight (maxConcurrentRequests); retry later`,
    null,
    { 'retry-after': String(RETRY_AFTER_SECONDS) },
  );
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
  releaseBody: () => void,
  remoteAddress: string | undefined,
  res: ServerResponse,
  upstream: ResolvedUpstream,
  clientQuery: string,
  ctx: ForwardContext,
  admitted: boolean,
): void {
  let body = requestBody;
  const envelope = body === null ? EMPTY_ENVELOPE : readRequestEnvelopeBounded(body);
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
    if (ctx.injectMeta && body !== null) body = withMetaTraceparent(body, extra);
  }

  const relay = new UpstreamRelay(res, upstream, method, handle, ctx, envelope, body, releaseBody, admitted);
  if (fwd.authorization !== null && ctx.credentialWatch)
    relay.credential = ctx.credentialWatch.seen(upstream.id, fwd.authorization);
  res.once('close', relay.onClientClose);
  // undici's plain dispatch: no promise, no response object or body stream, no parsed header
  // object per request; the raw headers and body chunks come straight to the relay. The relay's
  // own deadline covers the wait for headers (queueing included), so undici's is off.
  (method === 'GET' ? upstream.streams : upstream.requests).dispatch(
    {
      method,
      path: upstreamPathFor(upstream, clientQuery),
      headers,
      body,
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    relay,
  );
}

type Finish = Parameters<ExchangeHandle['finish']>[0];
const NOOP_OBSERVER: BodyObserver = { push() {}, end: () => null, events: 0 };

/**
 * One forwarded request's handler in undici's plain dispatch form (`onConnect`/`onHeaders`/
 * `onData`/`onComplete`/`onError`, raw header buffers). Each chunk goes to the client first,
 * then to the observer; a full client socket pauses the upstream.
 */
class UpstreamRelay implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private observer: BodyObserver = NOOP_OBSERVER;
  private clientGone = false;
  private upstreamDone = false;
  private relayed = false;
  /** The request's credential, when it carried one and credentials are watched. */
  credential: WatchedCredential | null = null;
  /** The client has been answered by the proxy itself (a 504 at the deadline). */
  private answered = false;
  private finished = false;
  /** An SSE answer: its writes are corked per upstream read (see `cork`). */
  private sse = false;
  /** The client socket is corked until the current upstream read has been relayed. */
  private corked = false;
  /** Until the answer begins: the upstream's `timeoutSeconds`, counted from dispatch. */
  private deadline: NodeJS.Timeout | null;

  constructor(
    private readonly res: ServerResponse,
    private readonly upstream: ResolvedUpstream,
    private readonly method: string,
    private readonly handle: ExchangeHandle,
    private readonly ctx: ForwardContext,
    private readonly envelope: RequestEnvelope,
    private readonly body: Buffer | null,
    /** Gives the body's bytes back to the budget (at finish: undici holds the body until then). */
    private readonly releaseBody: () => void,
    /** Holds one of the upstream's `maxConcurrentRequests` slots until finished. */
    private readonly admitted: boolean,
  ) {
    this.deadline = setTimeout(this.onDeadline, upstream.timeoutMs);
  }

  private clearDeadline(): void {
    if (this.deadline !== null) {
      clearTimeout(this.deadline);
      this.deadline = null;
    }
  }

  /** The client went away (or shutdown ended a GET stream): stop the upstream request too. */
  readonly onClientClose = (): void => {
    if (this.upstreamDone || this.answered) return;
    this.clientGone = true;
    this.clearDeadline();
    this.abortUpstream?.(new Error('client disconnected'));
    this.finish({ clientAborted: true, aborted: true, errorText: 'client disconnected' });
  };

  /**
   * No answer within the upstream's timeout, whether the request was sent or still waited for
   * a connection: the client gets its 504 now. A request still queued is dropped by `onConnect`
   * when its turn comes, so it never reaches the upstream.
   */
  private readonly onDeadline = (): void => {
    this.deadline = null;
    if (this.relayed || this.upstreamDone || this.clientGone) return;
    this.answered = true;
    this.abortUpstream?.(new UpstreamDeadline());
    this.answerFailure(new UpstreamDeadline());
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
   * waits for more upstream bytes.
   */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.res.cork();
    process.nextTick(this.uncork);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.clientGone) abort(new Error('client disconnected'));
    else if (this.answered) abort(new UpstreamDeadline());
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.clearDeadline();
    this.resumeUpstream = resume;
    const res = this.res;
    const handle = this.handle;
    const ctx = this.ctx;
    const relayed = rawResponseHeadersForClient(rawHeaders);
    handle.headers(statusCode, relayed.sessionId);
    if (this.credential !== null) ctx.credentialWatch?.answered(this.credential, statusCode, rawHeaders);
    if (this.method === 'GET' && statusCode >= 200 && statusCode < 300) {
      ctx.tracker.streamOpened(handle);
      ctx.onStreamOpened?.(handle);
    }
    this.observer = createBodyObserver(bodyKindFor(statusCode, relayed.contentType), handle);
    this.relayed = true;
    this.sse = relayed.contentType?.startsWith('text/event-stream') === true;
    // The client-side framing is ours: a length only when undici's parser framed the answer by
    // one (it then delivers exactly that many bytes or fails), else Node chunks it.
    const headers = relayed.headers;
    if (relayed.contentLength !== null && statusCode !== 204 && statusCode !== 304)
      headers.push('Content-Length', relayed.contentLength);
    if (this.sse) this.cork();
    res.writeHead(statusCode, headers);
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
    this.clearDeadline();
    if (this.clientGone || this.answered) return;
    if (this.relayed) {
      // The answer had started: the client sees the stream break, as it would have directly.
      safeEnd(this.observer);
      this.finish({ aborted: true, errorText: describeUpstreamError(err).message });
      this.res.destroy();
      return;
    }
    this.answerFailure(err);
  }

  /** No answer from the upstream: a 504 or 502 from the proxy, recorded as such. */
  private answerFailure(err: Error): void {
    const { timedOut, message } = describeUpstreamError(err);
    this.finish({ timedOut, connectionFailed: !timedOut, errorText: message });
    const upstream = this.upstream;
    const id = jsonRpcIdFrom(this.envelope.id, this.body);
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
    if (this.admitted) this.upstream.admission.leave();
    this.releaseBody();
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
 * proxy changes what the upstream receives). undici frames the new body itself.
 */
function withMetaTraceparent(body: Buffer, extra: readonly string[]): Buffer {
  const at = extra.indexOf('traceparent');
  const traceparent = at >= 0 && at % 2 === 0 ? extra[at + 1] : undefined;
  const rewritten = traceparent ? injectMetaTraceparent(body.toString('utf8'), traceparent) : null;
  if (rewritten === null) return body;
  return Buffer.from(rewritten, 'utf8');
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
