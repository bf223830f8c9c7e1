import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { CredentialWatch, WatchedCredential } from '../auth/credentialWatch.js';
import type { HealedSessionRef, Healer } from '../heal/healer.js';
import type { InitializeAnswer } from '../heal/reinitialize.js';
import { ReopenSchedule } from '../heal/streamReopen.js';
import type { Logger } from '../log.js';
import { redactText } from '../security/redact.js';
import { classifyOutcome } from '../sessions/classify.js';
import { type RequestEnvelope, readRequestEnvelope, readResponseEnvelope } from '../sessions/jsonrpc.js';
import type { ExchangeHandle, SessionTracker } from '../sessions/tracker.js';
import { injectMetaTraceparent } from '../telemetry/traceContext.js';
import { RETRY_AFTER_SECONDS } from './admission.js';
import { AgentStream } from './agentStream.js';
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
  /** Credential lifetime: each request's credential and the upstream's answer to it (src/auth/credentialWatch.ts). */
  credentialWatch?: CredentialWatch;
  /** Heal mode (`heal: true` upstreams): sealed session ids, replacement sessions, one replay. */
  healer?: Healer;
}

/** Heal mode's part in one forwarded request. */
interface HealState {
  /** The agent's session, when heal mode issued its id (else the request passes through unhealed). */
  ref: HealedSessionRef | null;
  /** This request is the replay after a heal: its answer goes to the agent whatever it is. */
  replayed: boolean;
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
  const heal = healStateFor(req.rawHeaders, upstream, ctx);
  const fwd = requestHeadersForUpstream(req.rawHeaders, heal?.ref?.upstreamSessionId ?? null);
  // The tracker follows the upstream's sessions: the one this request really goes to.
  if (heal?.ref) {
    fwd.sessionId = heal.ref.upstreamSessionId;
    if (method === 'DELETE') ctx.healer?.forget(heal.ref.downstreamId);
  }
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
  // On a healing session the agent's stream outlives the upstream's (agentStream.ts).
  const stream =
    isStream && heal?.ref
      ? agentStreamFor(res, upstream, ctx, fwd, req.socket.remoteAddress, clientQuery, heal.ref.downstreamId)
      : null;
  if (!isStream && !upstream.admission.tryEnter()) {
    release();
    rejectOverloaded(res, upstream);
    return;
  }
  try {
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
      heal,
      stream,
    );
  } catch (err) {
    // A bug before the relay took the request over: give back what it held, or every later
    // request would find the budget and the breaker a little fuller (the caller answers 502).
    release();
    if (!isStream) upstream.admission.leave();
    throw err;
  }
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

/**
 * The agent's GET stream on a healing session. When its upstream stream ends or breaks, the next
 * one is opened on the session the agent's id maps to by then: a session error there is healed
 * like any request's, and the new stream's events follow the old one's on the agent's response.
 */
function agentStreamFor(
  res: ServerResponse,
  upstream: ResolvedUpstream,
  ctx: ForwardContext,
  fwd: ForwardedRequestHeaders,
  remoteAddress: string | undefined,
  clientQuery: string,
  downstreamId: string,
): AgentStream {
  // A copy of the client's headers as they came (the first forward appends telemetry's to its
  // own list); its Last-Event-ID named an event of the stream that is over.
  const base = withoutHeader(fwd.headers, 'last-event-id');
  const schedule = new ReopenSchedule({ budgetMs: upstream.timeoutMs });
  return new AgentStream(res, schedule, (stream) => {
    try {
      const healer = ctx.healer;
      const ref = healer && !healer.hasEnded(downstreamId) ? healer.resolve(upstream.id, downstreamId) : null;
      if (ref === null) {
        res.end();
        return;
      }
      // On the same session, the upstream resumes after the last event the agent got.
      const resume = stream.lastEventIdOn(ref.upstreamSessionId);
      const headers = replaceHeaders(
        base,
        resume === null
          ? ['mcp-session-id', ref.upstreamSessionId]
          : ['mcp-session-id', ref.upstreamSessionId, 'last-event-id', resume],
      );
      forwardRequest(
        'GET',
        { ...fwd, headers, sessionId: ref.upstreamSessionId },
        null,
        NOTHING_HELD,
        remoteAddress,
        res,
        upstream,
        clientQuery,
        ctx,
        false,
        { ref, replayed: false },
        stream,
      );
    } catch (err) {
      // Called from a timer: a bug here must end this stream, never the process.
      ctx.logger.warn('reopening a stream failed; the agent reconnects', { upstream: upstream.id, err });
      res.destroy();
    }
  });
}

/** Null when the upstream does not heal; else the agent's healable session, if it names one. */
function healStateFor(
  rawHeaders: string[],
  upstream: ResolvedUpstream,
  ctx: ForwardContext,
): HealState | null {
  const healer = ctx.healer;
  if (!healer?.heals(upstream.id)) return null;
  const downstreamId = firstRaw(rawHeaders, 'mcp-session-id');
  return { ref: downstreamId ? healer.resolve(upstream.id, downstreamId) : null, replayed: false };
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
  heal: HealState | null,
  stream: AgentStream | null = null,
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
  // A replay adds telemetry's headers to the client's own again, so it keeps them as they came.
  const clientHeaders = heal !== null && extra ? headers.slice() : headers;
  if (extra) {
    // The header list is ours: append in place unless the client sent a header being replaced.
    if (extra.length === 2 && extra[0] === 'traceparent' && fwd.traceparent === null)
      headers.push(extra[0], extra[1]!);
    else headers = replaceHeaders(headers, extra);
    if (ctx.injectMeta && body !== null) body = withMetaTraceparent(body, extra);
  }

  const path = upstreamPathFor(upstream, clientQuery);
  const replay: ReplayInfo | null =
    heal === null
      ? null
      : { heal, fwd: { ...fwd, headers: clientHeaders }, remoteAddress, clientQuery, path };
  const relay = new UpstreamRelay(
    res,
    upstream,
    method,
    handle,
    ctx,
    envelope,
    body,
    releaseBody,
    admitted,
    replay,
    stream,
  );
  if (fwd.authorization !== null && ctx.credentialWatch)
    relay.credential = ctx.credentialWatch.seen(upstream.id, fwd.authorization);
  res.once('close', relay.onClientClose);
  // undici's plain dispatch: no promise, no response object or body stream, no parsed header
  // object per request; the raw headers and body chunks come straight to the relay. The relay's
  // own deadline covers the wait for headers (queueing included), so undici's is off.
  (method === 'GET' ? upstream.streams : upstream.requests).dispatch(
    {
      method,
      path,
      headers,
      body,
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    relay,
  );
}

type Finish = Parameters<ExchangeHandle['finish']>[0];

/** What a relay on a heal-mode upstream needs to heal and replay its request. */
interface ReplayInfo {
  heal: HealState;
  /** The request as it was forwarded (the client's headers, before telemetry's additions). */
  fwd: ForwardedRequestHeaders;
  remoteAddress: string | undefined;
  clientQuery: string;
  path: string;
}

/** Answers that may be a session error: held back (heal mode) until the body tells. */
const MAY_BE_SESSION_ERROR = new Set([400, 401, 404]);
/** A session-error answer is a short JSON body; a longer one is relayed as it comes. */
const MAX_HELD_BYTES = 64 * 1024;

interface HeldAnswer {
  status: number;
  headers: string[];
  chunks: Buffer[];
  bytes: number;
}
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
  /** Heal mode: a possible session-error answer kept from the client until its body is read. */
  private held: HeldAnswer | null = null;
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
    /** Heal mode: set on upstreams with `heal: true`. */
    private readonly replay: ReplayInfo | null,
    /** Heal mode: the agent's GET stream this upstream stream feeds (agentStream.ts). */
    private readonly stream: AgentStream | null,
  ) {
    this.deadline = setTimeout(this.onDeadline, upstream.timeoutMs);
    this.splice = stream?.started === true;
  }

  /** The agent's stream is already open: this upstream stream's events are spliced into it. */
  private readonly splice: boolean;

  /** The agent's stream goes on after this upstream stream (it has begun and the agent still reads it). */
  private get streamGoesOn(): boolean {
    return this.stream?.started === true && !this.clientGone;
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
    if (this.splice) {
      this.finish(failureFinish(new UpstreamDeadline()));
      this.stream!.continue();
      return;
    }
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
    if (this.splice) return this.spliceHeaders(statusCode);
    // The client-side framing is ours: a length only when undici's parser framed the answer by
    // one (it then delivers exactly that many bytes or fails), else Node chunks it.
    const headers = relayed.headers;
    if (relayed.contentLength !== null && statusCode !== 204 && statusCode !== 304)
      headers.push('Content-Length', relayed.contentLength);
    if (this.replay !== null) {
      const clientSessionId = this.clientSessionId(statusCode, relayed.sessionId);
      if (clientSessionId !== relayed.sessionId) setHeader(headers, 'mcp-session-id', clientSessionId);
      if (this.shouldHold(statusCode)) {
        this.relayed = false;
        this.held = { status: statusCode, headers, chunks: [], bytes: 0 };
        return true;
      }
    }
    if (this.sse) this.cork();
    res.writeHead(statusCode, headers);
    if (this.stream !== null && statusCode >= 200 && statusCode < 300 && this.sse) {
      this.stream.started = true;
      this.stream.opened(this.handle.begin.sessionId);
    }
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
    const held = this.held;
    if (held !== null) {
      this.observer.push(chunk);
      held.chunks.push(chunk);
      held.bytes += chunk.length;
      if (held.bytes > MAX_HELD_BYTES) {
        // Never sent into a stream the agent already reads: only its start is kept, to classify.
        if (this.splice) held.chunks.pop();
        else this.releaseHeld();
      }
      return true;
    }
    // Shutdown ended the agent's stream (its close follows): a write now would throw.
    if (this.res.writableEnded) return true;
    if (this.sse) this.cork();
    const ok = this.res.write(chunk);
    this.stream?.sent(chunk);
    this.observer.push(chunk);
    // Backpressure: a slow client pauses the upstream body until its socket drains.
    if (!ok) this.res.once('drain', this.onDrain);
    return ok;
  }

  onComplete(): void {
    this.upstreamDone = true;
    const held = this.held;
    if (held !== null) {
      if (this.mayHeal(held)) {
        void this.healAndReplay();
        return;
      }
      if (this.splice) {
        // Not a stream and not healed: an upstream busy or starting is tried again; any other
        // refusal (401, 405, a session error met again) ends the agent's stream, so that its
        // client's own reconnect meets the answer and acts on it.
        this.held = null;
        this.finish({ errorText: safeEnd(this.observer) });
        if (mayPass(held.status)) this.stream!.continue();
        else this.stream!.end();
        return;
      }
      this.releaseHeld();
    }
    if (this.streamGoesOn) {
      this.finish({ errorText: safeEnd(this.observer) });
      this.stream!.continue();
      return;
    }
    this.res.end();
    this.finish({ errorText: safeEnd(this.observer) });
  }

  onError(err: Error): void {
    this.upstreamDone = true;
    this.clearDeadline();
    if (this.clientGone || this.answered) return;
    // A held answer broke before the proxy sent any of it: the client gets the proxy's 502.
    this.held = null;
    if (this.splice || (this.relayed && this.streamGoesOn)) {
      // The agent's stream stays open; the next upstream stream follows (an upstream restarting
      // refuses connections for a while, and the schedule waits it out).
      safeEnd(this.observer);
      this.finish(
        this.relayed ? { aborted: true, errorText: describeUpstreamError(err).message } : failureFinish(err),
      );
      this.stream!.continue();
      return;
    }
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
    this.finish(failureFinish(err));
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

  /** Heal mode: the session id the agent sees for one the upstream sent. */
  private clientSessionId(status: number, upstreamSessionId: string | null): string | null {
    if (upstreamSessionId === null) return null;
    const ref = this.replay?.heal.ref;
    if (ref) return upstreamSessionId === ref.upstreamSessionId ? ref.downstreamId : upstreamSessionId;
    // The agent's own `initialize` opened a session: give the agent a sealed id for it.
    if (
      status >= 200 &&
      status < 300 &&
      this.envelope.method === 'initialize' &&
      this.handle.begin.sessionId === null
    )
      return (
        this.ctx.healer?.sealNewSession(this.upstream.id, upstreamSessionId, this.body) ?? upstreamSessionId
      );
    return upstreamSessionId;
  }

  private shouldHold(status: number): boolean {
    return (
      this.canHeal() && (this.method === 'POST' || this.method === 'GET') && MAY_BE_SESSION_ERROR.has(status)
    );
  }

  /** A request on a sealed session the agent has not ended, not yet replayed. */
  private canHeal(): boolean {
    const replay = this.replay;
    return (
      replay !== null &&
      replay.heal.ref !== null &&
      !replay.heal.replayed &&
      this.ctx.healer?.hasEnded(replay.heal.ref.downstreamId) === false
    );
  }

  /** A held answer that heal mode replaces: a session error, and for a reopened stream the run's one heal. */
  private mayHeal(held: HeldAnswer): boolean {
    if (!this.canHeal() || !this.isSessionError(held)) return false;
    return !this.splice || this.stream!.schedule.mayHeal();
  }

  /**
   * A reopened upstream stream's headers, kept from the agent, whose stream began long ago: a
   * stream is spliced in; anything else is held (a session error heals, the rest is dropped).
   */
  private spliceHeaders(status: number): boolean {
    if (status >= 200 && status < 300 && this.sse) {
      this.stream!.opened(this.handle.begin.sessionId);
      return true;
    }
    this.relayed = false;
    this.held = { status, headers: [], chunks: [], bytes: 0 };
    return true;
  }

  /** The held answer is a session error (the classifier's own rule, as the tracker will record it). */
  private isSessionError(held: HeldAnswer): boolean {
    const text = Buffer.concat(held.chunks).toString('utf8');
    let code: number | null = null;
    try {
      code = readResponseEnvelope(text).errorCode;
    } catch {
      code = null;
    }
    return (
      classifyOutcome({
        httpStatus: held.status,
        carriedSessionId: true,
        errorText: text,
        rpcErrorCode: code,
      }).outcome === 'session_expired'
    );
  }

  /** Sends the held answer to the client as it is (not a session error, or the heal failed). */
  private releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.relayed = true;
    this.res.writeHead(held.status, held.headers);
    for (const chunk of held.chunks) this.res.write(chunk);
  }

  /**
   * The upstream refused the request as a session error, so it did not run it: open a
   * replacement session with the agent's `initialize` parameters and send the request there,
   * once. The agent gets the replay's answer on its own session id, or the original answer
   * when the heal fails.
   */
  private async healAndReplay(): Promise<void> {
    const replay = this.replay!;
    const ref = replay.heal.ref!;
    const healer = this.ctx.healer!;
    const outcome = await healer.heal({
      upstream: this.upstream.id,
      ref,
      dispatcher: this.upstream.requests,
      path: replay.path,
      headers: replay.fwd.headers,
      timeoutMs: this.upstream.timeoutMs,
      observeInitialize: (body) => this.observeHealInitialize(body),
    });
    // The agent left while the heal ran (its socket's close found the upstream answer complete).
    if (this.clientGone || this.res.destroyed || this.res.writableEnded) {
      this.held = null;
      this.finish({ clientAborted: true, errorText: safeEnd(this.observer) });
      return;
    }
    if (!outcome.ok) {
      this.ctx.logger.warn('heal failed; the agent gets the upstream answer', {
        upstream: this.upstream.id,
        reason: outcome.reason,
      });
      if (this.splice) {
        // The agent's stream is open: it waits for the next attempt (the upstream may be starting).
        this.held = null;
        this.finish({ errorText: safeEnd(this.observer) });
        this.stream!.continue();
        return;
      }
      this.releaseHeld();
      this.res.end();
      this.finish({ errorText: safeEnd(this.observer) });
      return;
    }
    this.held = null;
    if (this.splice) this.stream!.schedule.healed();
    this.finish({ errorText: safeEnd(this.observer), healed: { latencyMs: outcome.latencyMs } }, true);
    // A GET's Last-Event-ID named an event of the expired session, which the new one never sent.
    const base =
      this.method === 'GET' ? withoutHeader(replay.fwd.headers, 'last-event-id') : replay.fwd.headers;
    const fwd: ForwardedRequestHeaders = {
      ...replay.fwd,
      headers: replaceHeaders(base, ['mcp-session-id', outcome.upstreamSessionId]),
      sessionId: outcome.upstreamSessionId,
    };
    forwardRequest(
      this.method,
      fwd,
      this.body,
      this.releaseBody,
      replay.remoteAddress,
      this.res,
      this.upstream,
      replay.clientQuery,
      this.ctx,
      false,
      { ref: { ...ref, upstreamSessionId: outcome.upstreamSessionId }, replayed: true },
      this.stream,
    );
  }

  /** The heal's `initialize` is recorded like any session's opening (its latency is the init tax paid). */
  private observeHealInitialize(body: string): (answer: InitializeAnswer) => void {
    const handle = this.ctx.tracker.begin({
      upstream: this.upstream.id,
      transport: 'streamable-http',
      httpMethod: 'POST',
      sessionId: null,
      request: readRequestEnvelope(body),
      callerHash: this.handle.record.callerHash,
    });
    return (answer) => {
      try {
        if (answer.status !== null) handle.headers(answer.status, answer.sessionId);
        for (const text of answer.messages) handle.message(readResponseEnvelope(text), text);
        handle.finish(
          answer.status === null
            ? { connectionFailed: true, errorText: answer.errorText }
            : { errorText: answer.errorText === null ? null : redactText(answer.errorText) },
        );
      } catch (err) {
        this.ctx.logger.warn('observation failed; forwarding unaffected', { err });
      }
    };
  }

  /** `keepBody`: the body goes on to a replay, which gives its bytes back when it finishes. */
  private finish(f: Finish, keepBody = false): void {
    if (this.finished) return;
    this.finished = true;
    // A long-lived agent stream sees many relays: each leaves no listener behind.
    this.res.off('close', this.onClientClose);
    if (this.admitted) this.upstream.admission.leave();
    if (!keepBody) this.releaseBody();
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

/** An answer that may not last: 408, 429 and 5xx (the upstream busy, starting or behind a gateway). */
function mayPass(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** What an exchange that got no answer records: a timeout or a failed connection. */
function failureFinish(err: Error): Finish {
  const { timedOut, message } = describeUpstreamError(err);
  return { timedOut, connectionFailed: !timedOut, errorText: message };
}

/** A copy of a flat header list without `name` (lower case). */
function withoutHeader(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== name) out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}

/** Sets `name` (lower case) to `value` in a flat header list, in place; removes it for null. */
function setHeader(headers: string[], name: string, value: string | null): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== name) continue;
    if (value === null) headers.splice(i, 2);
    else headers[i + 1] = value;
    return;
  }
  if (value !== null) headers.push(name, value);
}

/** The first value of a header (`name` in lower case) in a raw [name, value, ...] list. */
function firstRaw(rawHeaders: readonly string[], name: string): string | null {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name)
      return rawHeaders[i + 1]!;
  }
  return null;
}
