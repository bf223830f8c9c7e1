// The legacy HTTP+SSE transport (protocol 2024-11-05) through the proxy: `GET /sse/:upstream`
// opens the upstream stream, whose first event announces where to POST; the client is told
// to POST to `/messages/:upstream?<the upstream's query>` here instead, and each such POST is
// forwarded to the endpoint that session announced. Responses arrive on the stream, so each
// POST's exchange stays open until the stream delivers the response with its JSON-RPC id.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { redactText } from '../security/redact.js';
import { readRequestEnvelope, readResponseEnvelopeBytes } from '../sessions/jsonrpc.js';
import { SseReader } from '../sessions/sseReader.js';
import type { ExchangeHandle, FinishExchange } from '../sessions/tracker.js';
import { bodyKindFor, createBodyObserver, MAX_SSE_EVENT_BYTES } from './bodyObserver.js';
import { jsonRpcIdFrom, PROXY_ERROR, sendJsonRpcError } from './errors.js';
import { rawResponseHeadersForClient, requestHeadersForUpstream } from './headers.js';
import type { LegacySseHandlers } from './index.js';
import { createEndpointRewriter } from './legacyEndpoint.js';
import { readRequestBody } from './requestBody.js';
import { readRequestEnvelopeBounded } from './requestEnvelope.js';
import {
  describeUpstreamError,
  type ForwardContext,
  rejectOverloaded,
  replaceHeaders,
  UpstreamDeadline,
} from './streamableHttp.js';
import { type ResolvedUpstream, type UpstreamRegistry, upstreamPathFor } from './upstreams.js';

export interface LegacySseOptions {
  registry: UpstreamRegistry;
  context: ForwardContext;
  /**
   * How long a session whose stream ended is still remembered, so that a late POST for it
   * reaches the upstream (and its real 404/400 reaches the client) instead of a proxy error.
   */
  retainEndedMs?: number;
}

export interface LegacySseProxy extends LegacySseHandlers {
  /** Legacy sessions the proxy knows (open streams plus recently ended ones). */
  readonly sessionCount: number;
}

/** Added to the client's endpoint when the upstream's own query cannot tell sessions apart. */
export const PROXY_SESSION_PARAM = 'mcpprobe_session';

/** A POST whose response is still expected on the stream. */
interface PendingCall {
  handle: ExchangeHandle;
  /** The POST's own HTTP answer has ended. */
  postDone: boolean;
  finish(f?: FinishExchange): void;
}

interface LegacySession {
  upstreamId: string;
  /** Where the client POSTs on the proxy: the query after `/messages/<id>?`. */
  clientQuery: string;
  /** The upstream endpoint (path and query) the session announced; also the tracker's raw session key. */
  upstreamEndpoint: string;
  /** JSON-RPC request id → the POST waiting for its response on the stream. */
  pending: Map<string, PendingCall>;
  ended: boolean;
}

/** Wires `GET /sse/:upstream` and `POST /messages/:upstream` (see `proxyRoutes`' `legacy`). */
export function createLegacySseHandlers({
  registry,
  context: ctx,
  retainEndedMs = 5 * 60_000,
}: LegacySseOptions): LegacySseProxy {
  const sessions = new Map<string, LegacySession>();
  /** Per upstream, the path of the last endpoint announced: where a POST for a session we never saw most likely belongs. */
  const lastEndpointPath = new Map<string, string>();
  const keyOf = (upstreamId: string, clientQuery: string) => `${upstreamId}\0${clientQuery}`;

  function forgetLater(session: LegacySession): void {
    session.ended = true;
    const timer = setTimeout(() => {
      sessions.delete(keyOf(session.upstreamId, session.clientQuery));
    }, retainEndedMs);
    timer.unref();
  }

  function safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      ctx.logger.warn(`${what} failed; forwarding unaffected`, { err });
    }
  }

  async function stream(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: ResolvedUpstream,
    query: string,
    mountPrefix: string,
  ): Promise<void> {
    const tracker = ctx.tracker;
    const openedAt = tracker.now();
    const fwd = requestHeadersForUpstream(req.rawHeaders);
    const streamPath = upstreamPathFor(upstream, query);
    const abort = new AbortController();
    let session: LegacySession | null = null;
    let upstreamDone = false;
    let clientGone = false;

    const endSession = (by: 'upstream' | 'client', errorText?: string) => {
      const s = session;
      if (s === null || s.ended) return;
      forgetLater(s);
      safely('legacy stream observation', () => {
        tracker.endStreamSession(upstream.id, s.upstreamEndpoint, by, errorText);
        const calls = new Set(s.pending.values());
        s.pending.clear();
        for (const call of calls) {
          call.finish(
            by === 'client'
              ? { clientAborted: true, aborted: true, errorText: 'client disconnected' }
              : { responseStreamEnded: true, errorText: 'stream closed before the response arrived' },
          );
        }
      });
    };

    res.once('close', () => {
      clientGone = true;
      if (upstreamDone) return;
      abort.abort();
      endSession('client');
    });

    let upstreamRes: Awaited<ReturnType<ResolvedUpstream['streams']['request']>>;
    try {
      // The stream lives as long as the session: the streams pool, never the request pool.
      upstreamRes = await upstream.streams.request({
        method: 'GET',
        path: streamPath,
        headers: fwd.headers,
        signal: abort.signal,
        headersTimeout: upstream.timeoutMs,
        bodyTimeout: 0,
        responseHeaders: 'raw',
      });
    } catch (err) {
      upstreamDone = true;
      if (abort.signal.aborted) return;
      const { timedOut, message } = describeUpstreamError(err);
      recordFailedStream(beginStreamExchange(upstream, fwd.authorization, req), {
        timedOut,
        connectionFailed: !timedOut,
        errorText: message,
      });
      sendJsonRpcError(
        res,
        timedOut ? 504 : 502,
        timedOut ? PROXY_ERROR.upstreamTimeout : PROXY_ERROR.upstreamUnreachable,
        timedOut
          ? `mcp-session-probe: upstream "${upstream.id}" sent no response within ${upstream.timeoutMs / 1000}s`
          : `mcp-session-probe: upstream "${upstream.id}" is unreachable (${redactText(message)})`,
      );
      return;
    }

    const { statusCode, body: resBody } = upstreamRes;
    const {
      headers: relayedHeaders,
      contentType,
      contentLength,
    } = rawResponseHeadersForClient(rawHeadersOf(upstreamRes));
    const isStream = statusCode >= 200 && statusCode < 300 && contentType?.startsWith('text/event-stream');
    // The client-side framing is the proxy's own (headers.ts): a length only for a length-framed answer.
    if (!isStream && contentLength !== null && statusCode !== 204 && statusCode !== 304)
      relayedHeaders.push('Content-Length', contentLength);
    res.writeHead(statusCode, relayedHeaders);
    if (!isStream) {
      // No stream, no session: pass the answer through and record it as one failed exchange.
      const failed = beginStreamExchange(upstream, fwd.authorization, req);
      failed.headers(statusCode, null);
      const observer = createBodyObserver(bodyKindFor(statusCode, contentType), failed);
      resBody.on('data', (chunk: Buffer) => {
        res.write(chunk);
        observer.push(chunk);
      });
      resBody.once('end', () => {
        upstreamDone = true;
        res.end();
        const text = observer.end();
        recordFailedStream(failed, { errorText: text === null ? null : redactText(text) });
      });
      resBody.once('error', () => {
        upstreamDone = true;
        res.destroy();
      });
      return;
    }
    res.flushHeaders();
    if (ctx.openStreams) {
      const streams = ctx.openStreams;
      streams.add(res);
      res.once('close', () => streams.delete(res));
    }

    const upstreamStreamUrl = new URL(streamPath, upstream.origin);
    const rewriter = createEndpointRewriter((announced) => {
      let endpoint: URL;
      try {
        endpoint = new URL(announced, upstreamStreamUrl);
      } catch {
        return null;
      }
      if (endpoint.origin !== upstream.origin) {
        // Never forward to an origin that is not configured (the proxy is not an open proxy).
        ctx.logger.warn('legacy endpoint on another origin left as announced; POSTs will bypass the proxy', {
          upstream: upstream.id,
        });
        return null;
      }
      let clientQuery = endpoint.search.slice(1);
      if (clientQuery === '' || sessions.has(keyOf(upstream.id, clientQuery))) {
        const token = `${PROXY_SESSION_PARAM}=${randomBytes(12).toString('hex')}`;
        clientQuery = clientQuery === '' ? token : `${clientQuery}&${token}`;
      }
      const s: LegacySession = {
        upstreamId: upstream.id,
        clientQuery,
        upstreamEndpoint: endpoint.pathname + endpoint.search,
        pending: new Map(),
        ended: false,
      };
      sessions.set(keyOf(upstream.id, clientQuery), s);
      lastEndpointPath.set(upstream.id, endpoint.pathname);
      session = s;
      safely('legacy stream observation', () => {
        tracker.openStreamSession({
          upstream: upstream.id,
          sessionId: s.upstreamEndpoint,
          openedAt,
          callerHash: ctx.callerHash?.(fwd.authorization, req.socket.remoteAddress) ?? null,
        });
      });
      return `${mountPrefix}/messages/${encodeURIComponent(upstream.id)}?${clientQuery}`;
    });

    // Responses to POSTs arrive here; match them by id to the exchange that is waiting.
    const events = new SseReader(({ data, type }) => {
      const s = session;
      if (s === null || (type !== null && type !== 'message')) return;
      const env = readResponseEnvelopeBytes(data);
      if (!env.isResponse || env.id === null) return;
      const call = s.pending.get(env.id);
      if (!call) return;
      call.handle.message(env, data);
      if (!call.handle.complete) return;
      for (const id of call.handle.begin.request.ids) s.pending.delete(id);
      if (call.postDone) call.finish();
    }, MAX_SSE_EVENT_BYTES);
    const observe = (chunk: Buffer) => safely('legacy stream observation', () => events.push(chunk));

    resBody.on('data', (chunk: Buffer) => {
      const out = rewriter.push(chunk);
      if (out.length > 0 && !res.write(out)) resBody.pause();
      observe(chunk);
    });
    res.on('drain', () => resBody.resume());
    resBody.once('end', () => {
      upstreamDone = true;
      const rest = rewriter.end();
      if (rest.length > 0) res.write(rest);
      res.end();
      if (!clientGone) endSession('upstream');
    });
    resBody.once('error', (err) => {
      upstreamDone = true;
      if (abort.signal.aborted) return;
      endSession('upstream', `legacy SSE stream broke: ${describeUpstreamError(err).message}`);
      res.destroy();
    });
  }

  function beginStreamExchange(
    upstream: ResolvedUpstream,
    authorization: string | null,
    req: IncomingMessage,
  ) {
    return ctx.tracker.begin({
      upstream: upstream.id,
      transport: 'sse',
      httpMethod: 'GET',
      sessionId: null,
      request: readRequestEnvelope(''),
      callerHash: ctx.callerHash?.(authorization, req.socket.remoteAddress) ?? null,
    });
  }

  function recordFailedStream(handle: ExchangeHandle, f: FinishExchange): void {
    safely('legacy stream observation', () => {
      handle.finish(f);
      ctx.onFinished?.(handle);
    });
  }

  async function message(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: ResolvedUpstream,
    query: string,
  ): Promise<void> {
    const fwd = requestHeadersForUpstream(req.rawHeaders);
    const held = await readRequestBody(req, res, fwd.contentLength, ctx.body);
    if (held === null) return;
    const body = held.bytes;
    const envelope = readRequestEnvelopeBounded(body);

    let session = sessions.get(keyOf(upstream.id, query)) ?? null;
    let upstreamEndpoint: string;
    if (session !== null) upstreamEndpoint = session.upstreamEndpoint;
    else {
      // A session we never saw (the proxy restarted): the upstream's usual endpoint path is the best guess,
      // and the upstream's own answer (most likely 404/400) then reaches the client unchanged.
      const path = lastEndpointPath.get(upstream.id);
      if (path === undefined) {
        sendJsonRpcError(
          res,
          404,
          PROXY_ERROR.badRequest,
          `mcp-session-probe: unknown legacy session for upstream "${upstream.id}"; open GET /sse/${upstream.id} first and POST to the endpoint it announces`,
          jsonRpcIdFrom(envelope.id, body),
        );
        held.release();
        return;
      }
      upstreamEndpoint = query ? `${path}?${query}` : path;
    }
    const known = session !== null && !session.ended;
    if (!known) session = null;
    if (!upstream.admission.tryEnter()) {
      held.release();
      rejectOverloaded(res, upstream);
      return;
    }

    const handle = ctx.tracker.begin({
      upstream: upstream.id,
      transport: 'sse',
      httpMethod: 'POST',
      sessionId: upstreamEndpoint,
      request: envelope,
      protocolVersion: fwd.protocolVersion,
      adopt: false,
    });
    const extra = ctx.extraRequestHeaders?.(handle, fwd.traceparent);
    const headers = extra ? replaceHeaders(fwd.headers, extra) : fwd.headers;

    let finished = false;
    const call: PendingCall = {
      handle,
      postDone: false,
      finish(f = {}) {
        if (finished) return;
        finished = true;
        upstream.admission.leave();
        held.release();
        safely('legacy exchange observation', () => {
          handle.finish(f);
          ctx.onFinished?.(handle);
        });
      },
    };
    const unregister = () => {
      if (session)
        for (const id of envelope.ids) if (session.pending.get(id) === call) session.pending.delete(id);
    };
    // Registered before the POST goes out: the response may reach the stream before the 202 reaches us.
    const awaitsStream = session !== null && envelope.expectsResponse;
    if (awaitsStream) for (const id of envelope.ids) session!.pending.set(id, call);

    const abort = new AbortController();
    let upstreamDone = false;
    const failed = (err: unknown) => {
      unregister();
      const { timedOut, message: text } = describeUpstreamError(err);
      call.finish({ timedOut, connectionFailed: !timedOut, errorText: text });
      sendJsonRpcError(
        res,
        timedOut ? 504 : 502,
        timedOut ? PROXY_ERROR.upstreamTimeout : PROXY_ERROR.upstreamUnreachable,
        timedOut
          ? `mcp-session-probe: upstream "${upstream.id}" sent no response within ${upstream.timeoutMs / 1000}s`
          : `mcp-session-probe: upstream "${upstream.id}" is unreachable (${redactText(text)})`,
        jsonRpcIdFrom(envelope.id, body),
      );
    };
    // The whole wait for the answer, queueing for a connection included (undici's own
    // headersTimeout starts only once the request is written).
    const deadline = setTimeout(() => {
      if (upstreamDone) return;
      upstreamDone = true;
      abort.abort();
      failed(new UpstreamDeadline());
    }, upstream.timeoutMs);
    res.once('close', () => {
      clearTimeout(deadline);
      if (upstreamDone) return;
      abort.abort();
      unregister();
      call.finish({ clientAborted: true, aborted: true, errorText: 'client disconnected' });
    });

    let upstreamRes: Awaited<ReturnType<ResolvedUpstream['requests']['request']>>;
    try {
      upstreamRes = await upstream.requests.request({
        method: 'POST',
        path: upstreamEndpoint,
        headers,
        body,
        signal: abort.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
        responseHeaders: 'raw',
      });
    } catch (err) {
      clearTimeout(deadline);
      if (upstreamDone || abort.signal.aborted) return;
      upstreamDone = true;
      failed(err);
      return;
    }
    clearTimeout(deadline);
    if (upstreamDone) {
      // The deadline answered first: the late answer is dropped.
      upstreamRes.body.resume();
      return;
    }

    const { statusCode, body: resBody } = upstreamRes;
    handle.headers(statusCode, null);
    const ok = statusCode >= 200 && statusCode < 300;
    if (!ok) unregister();
    const relayed = rawResponseHeadersForClient(rawHeadersOf(upstreamRes));
    const observer = createBodyObserver(bodyKindFor(statusCode, relayed.contentType), handle);
    if (relayed.contentLength !== null && statusCode !== 204 && statusCode !== 304)
      relayed.headers.push('Content-Length', relayed.contentLength);
    res.writeHead(statusCode, relayed.headers);
    resBody.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) resBody.pause();
      observer.push(chunk);
    });
    res.on('drain', () => resBody.resume());
    resBody.once('end', () => {
      upstreamDone = true;
      res.end();
      const text = observer.end();
      call.postDone = true;
      // Done unless the response is still to come on the stream.
      if (!ok || !awaitsStream || handle.complete || session?.ended) {
        unregister();
        call.finish({
          errorText: text === null ? null : redactText(text),
          responseStreamEnded: session?.ended === true && !handle.complete,
        });
      }
    });
    resBody.once('error', (err) => {
      upstreamDone = true;
      if (abort.signal.aborted) return;
      unregister();
      call.finish({ aborted: true, errorText: describeUpstreamError(err).message });
      res.destroy();
    });
  }

  function withUpstream<Rest extends unknown[]>(
    run: (
      req: IncomingMessage,
      res: ServerResponse,
      upstream: ResolvedUpstream,
      query: string,
      ...rest: Rest
    ) => Promise<void>,
  ): (req: IncomingMessage, res: ServerResponse, upstreamId: string, query: string, ...rest: Rest) => void {
    return (req, res, upstreamId, query, ...rest) => {
      const upstream = registry.get(upstreamId);
      if (upstream === undefined) {
        sendJsonRpcError(
          res,
          404,
          PROXY_ERROR.unknownUpstream,
          `mcp-session-probe: unknown upstream "${upstreamId}"`,
        );
        req.resume();
        return;
      }
      run(req, res, upstream, query, ...rest).catch((err) => {
        ctx.logger.error('legacy proxy failure', { upstream: upstream.id, err });
        if (!res.headersSent)
          sendJsonRpcError(res, 502, PROXY_ERROR.upstreamUnreachable, 'mcp-session-probe: proxy failure');
        else res.destroy();
      });
    };
  }

  return {
    stream: withUpstream(stream),
    message: withUpstream(message),
    get sessionCount() {
      return sessions.size;
    },
  };
}

/**
 * The upstream's response headers as undici received them (`responseHeaders: 'raw'`: a flat
 * name, value list with case, order and repeats kept), for the same filter the Streamable HTTP
 * relay applies to `dispatch`'s raw buffers.
 */
function rawHeadersOf(res: { headers: unknown }): readonly string[] {
  return res.headers as unknown as readonly string[];
}
