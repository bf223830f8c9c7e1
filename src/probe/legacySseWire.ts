// Probing a legacy HTTP+SSE (2024-11-05) upstream with the SDK's SSEClientTransport. Here the
// session *is* the stream, so what a probe measures is how long the upstream (and anything in
// between) keeps an idle stream open: each `initialize` opens a stream, requests are POSTed to
// the endpoint it announced and answered on the stream, and the stream ending by itself is the
// session's expiry. Exchanges go through the same SessionTracker as the proxy's (transport 'sse').
// A stored login's token is refreshed before it expires, as on Streamable HTTP: the stream was
// opened with the first token, and each later POST carries the current one.
import { randomUUID } from 'node:crypto';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { request } from 'undici';
import { redactText } from '../security/redact.js';
import { readRequestEnvelope, readResponseEnvelope } from '../sessions/jsonrpc.js';
import type { ExchangeHandle } from '../sessions/tracker.js';
import type { ExchangeRecord } from '../sessions/types.js';
import { assertReadOnly } from './readOnly.js';
import {
  type ExchangeResult,
  exchangeResultOf,
  type HeldStream,
  type JsonRpcRequest,
  ProbeCancelled,
  ProbeWire,
  type SendOptions,
} from './wire.js';

/** A made-up session id should be refused at once; a server that never answers it must not stall the probe. */
const CONTROL_TIMEOUT_MS = 5_000;

interface StreamSession {
  /** The tracker's raw key and the id handed to ProbeSession; never sent anywhere. */
  key: string;
  transport: SSEClientTransport;
  /** The endpoint the upstream announced (learned from the first POST). */
  endpoint: URL | null;
  /** JSON-RPC id → the exchange waiting for its response on the stream. */
  pending: Map<string, { handle: ExchangeHandle; arrived: (message: JSONRPCMessage | null) => void }>;
  /** POST bodies in flight → their exchange, so the fetch hook can report the HTTP status. */
  posting: Map<string, ExchangeHandle>;
  /** The expiry record once the upstream ended the stream. */
  expired: ExchangeRecord | null;
  closedByUs: boolean;
}

export class LegacySseProbeWire extends ProbeWire {
  override readonly carriesSessionless = false;
  private readonly streams = new Map<string, StreamSession>();
  private lastEndpoint: URL | null = null;
  private nextRequestId = 1;
  /**
   * The stored login's `Authorization` for the next request, fetched (and refreshed when due)
   * before each POST as on Streamable HTTP; every request the SDK's transport makes carries it.
   */
  private credential: Record<string, string> = {};

  override async post(
    message: Omit<JsonRpcRequest, 'jsonrpc' | 'id'>,
    send: SendOptions = {},
  ): Promise<ExchangeResult> {
    const full: JsonRpcRequest = message.method.startsWith('notifications/')
      ? { jsonrpc: '2.0', ...message }
      : { jsonrpc: '2.0', id: this.nextRequestId++, ...message };
    assertReadOnly({ httpMethod: 'POST', message: full, holdStream: this.opts.holdStream });
    if (this.opts.signal.aborted) throw new ProbeCancelled();
    // Before anything is tracked: a login that cannot be refreshed sends nothing (AuthRequiredError).
    await this.refreshCredential();
    if (full.method === 'initialize' && !send.sessionId) {
      const opened = await this.openAndInitialize(full, send);
      // A stored login's token refused when the stream opens: one more try with a refreshed one.
      if (opened.httpStatus !== 401 || !this.opts.auth) return opened;
      await this.refreshCredential();
      return this.openAndInitialize(full, send);
    }
    const session = send.sessionId ? this.streams.get(send.sessionId) : undefined;
    if (session === undefined) return this.postOutsideSession(full, send);
    if (session.expired !== null) {
      // The stream is gone, and with it the session: that is this request's answer.
      return exchangeResultOf(session.expired, null, null);
    }
    return this.exchange(session, full, send);
  }

  /**
   * Legacy HTTP+SSE has no DELETE: a session ends when its client closes the stream. Nothing
   * is sent and nothing recorded; the answer (no HTTP status) says DELETE was not tried.
   */
  override async delete(sessionId: string): Promise<ExchangeResult> {
    const session = this.streams.get(sessionId);
    if (session) await this.closeStream(session);
    const unsent = this.opts.tracker.begin({
      upstream: this.opts.upstream,
      transport: 'sse',
      httpMethod: 'DELETE',
      sessionId: null,
      request: readRequestEnvelope(''),
      probeRunId: this.opts.probeRunId,
    });
    return exchangeResultOf(unsent.record, null, null);
  }

  /**
   * `--hold-stream`: a legacy session always holds its stream (the stream is the session), so
   * there is nothing more to open; the answer says whether that stream is still up.
   */
  override async openStream(sessionId: string): Promise<HeldStream> {
    const session = this.streams.get(sessionId);
    const open = session !== undefined && session.expired === null && !session.closedByUs;
    return { httpStatus: open ? 200 : null, open, ended: Promise.resolve(), close() {} };
  }

  /** Closes the stream of a session the probe is done with (also for sessions not DELETEd). */
  override async release(sessionId: string): Promise<void> {
    const session = this.streams.get(sessionId);
    if (session) await this.closeStream(session);
  }

  private async refreshCredential(): Promise<void> {
    if (this.opts.auth) this.credential = await this.opts.auth.headers();
  }

  /** `fetch` with the current credential on top of what the transport sends; a 401 makes the next POST refresh. */
  private fetchWithCredential: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(this.credential)) headers.set(name, value);
    const response = await fetch(input, { ...init, headers });
    if (response.status === 401) this.opts.auth?.rejected();
    return response;
  };

  /** Closes every stream still open (end of run). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => this.closeStream(s)));
  }

  private async closeStream(session: StreamSession): Promise<void> {
    this.streams.delete(session.key);
    if (session.closedByUs || session.expired !== null) return;
    session.closedByUs = true;
    await session.transport.close().catch(() => {});
    this.opts.tracker.endStreamSession(this.opts.upstream, session.key, 'client');
    for (const p of session.pending.values()) p.arrived(null);
  }

  private async openAndInitialize(message: JsonRpcRequest, send: SendOptions): Promise<ExchangeResult> {
    const tracker = this.opts.tracker;
    const openedAt = tracker.now();
    const session: StreamSession = {
      key: `sse-${randomUUID()}`,
      transport: undefined as unknown as SSEClientTransport,
      endpoint: null,
      pending: new Map(),
      posting: new Map(),
      expired: null,
      closedByUs: false,
    };
    let streamStatus: number | null = null;
    session.transport = new SSEClientTransport(new URL(this.opts.url), {
      requestInit: { headers: { ...this.opts.headers } },
      // Sees every HTTP request the transport makes: the stream's status, and each POST's.
      fetch: async (input, init) => {
        const response = await this.fetchWithCredential(input, init);
        if (init?.method === 'POST') {
          session.endpoint ??= new URL(String(input instanceof Request ? input.url : input));
          this.lastEndpoint = session.endpoint;
          const handle = typeof init.body === 'string' ? session.posting.get(init.body) : undefined;
          handle?.headers(response.status, null);
        } else streamStatus = response.status;
        return response;
      },
    });
    session.transport.onmessage = (msg) => this.onStreamMessage(session, msg);
    session.transport.onerror = (err) => {
      if (!(err instanceof SseError) || session.closedByUs || session.expired !== null) return;
      if (!this.streams.has(session.key)) return; // the stream never opened: reported by start()
      // The upstream ended the stream (or the network did): the session is over. Stop the
      // EventSource from reconnecting, which would silently open a new session.
      session.expired = tracker.endStreamSession(
        this.opts.upstream,
        session.key,
        'upstream',
        `legacy SSE stream closed by the upstream${err.code ? ` (${err.code})` : ''}`,
      );
      void session.transport.close().catch(() => {});
      for (const p of session.pending.values()) p.arrived(null);
    };

    try {
      await withTimeout(session.transport.start(), this.opts.timeoutMs, this.opts.signal);
    } catch (err) {
      await session.transport.close().catch(() => {});
      if (this.opts.signal.aborted) throw new ProbeCancelled();
      // No stream, no session: recorded as the failed initialize it stands for.
      const handle = this.beginPost(message, send, null);
      const code = err instanceof SseError ? (err.code ?? streamStatus) : streamStatus;
      if (code !== null && code !== undefined) handle.headers(code, null);
      handle.finish({
        timedOut: err instanceof StreamTimeout,
        connectionFailed: !(err instanceof StreamTimeout) && (code === null || code === undefined),
        errorText: redactText(err instanceof Error ? err.message : String(err)),
      });
      return exchangeResultOf(handle.record, null, null);
    }
    this.streams.set(session.key, session);
    tracker.openStreamSession({ upstream: this.opts.upstream, sessionId: session.key, openedAt });
    const answer = await this.exchange(session, message, send);
    return { ...answer, issuedSessionId: answer.outcome === 'ok' ? session.key : null };
  }

  private onStreamMessage(session: StreamSession, msg: JSONRPCMessage): void {
    if (!('id' in msg) || 'method' in msg) return;
    const waiting = session.pending.get(String(msg.id));
    if (!waiting) return;
    session.pending.delete(String(msg.id));
    const text = JSON.stringify(msg);
    waiting.handle.message(readResponseEnvelope(text), text);
    waiting.arrived(msg);
  }

  private beginPost(
    message: JsonRpcRequest,
    send: SendOptions,
    session: StreamSession | null,
  ): ExchangeHandle {
    return this.opts.tracker.begin({
      upstream: this.opts.upstream,
      transport: 'sse',
      httpMethod: 'POST',
      sessionId: session?.key ?? null,
      request: readRequestEnvelope(JSON.stringify(message)),
      protocolVersion: send.protocolVersion ?? null,
      probeRunId: this.opts.probeRunId,
      adopt: false,
    });
  }

  /** One POST on a live stream session; for a request, waits for its response on the stream. */
  private async exchange(
    session: StreamSession,
    message: JsonRpcRequest,
    send: SendOptions,
  ): Promise<ExchangeResult> {
    const handle = this.beginPost(message, send, session);
    const body = JSON.stringify(message);
    const id = message.id === undefined ? null : String(message.id);
    let response: Promise<JSONRPCMessage | null> = Promise.resolve(null);
    if (id !== null) {
      // Registered before the POST: the answer may reach the stream before the 202 reaches us.
      response = new Promise((arrived) => session.pending.set(id, { handle, arrived }));
    }
    session.posting.set(body, handle);
    try {
      await withTimeout(
        session.transport.send(message as JSONRPCMessage),
        this.opts.timeoutMs,
        this.opts.signal,
      );
    } catch (err) {
      if (id !== null) session.pending.delete(id);
      if (this.opts.signal.aborted) {
        handle.finish({ clientAborted: true, aborted: true, errorText: 'probe cancelled' });
        throw new ProbeCancelled();
      }
      const text = err instanceof Error ? err.message : String(err);
      handle.finish({
        timedOut: err instanceof StreamTimeout,
        connectionFailed: !(err instanceof StreamTimeout) && handle.record.httpStatus === null,
        errorText: redactText(text.replace(/^Error POSTing to endpoint \(HTTP \d+\): /, '')),
      });
      return exchangeResultOf(handle.record, null, null);
    } finally {
      session.posting.delete(body);
    }
    let answer: JSONRPCMessage | null = null;
    try {
      answer = await withTimeout(response, this.opts.timeoutMs, this.opts.signal);
    } catch {
      if (id !== null) session.pending.delete(id);
      if (this.opts.signal.aborted) {
        handle.finish({ clientAborted: true, aborted: true, errorText: 'probe cancelled' });
        throw new ProbeCancelled();
      }
      handle.finish({
        timedOut: true,
        errorText: `no response on the stream within ${this.opts.timeoutMs / 1000}s`,
      });
      return exchangeResultOf(handle.record, null, null);
    }
    if (id !== null && answer === null) {
      handle.finish({ responseStreamEnded: true, errorText: 'stream closed before the response arrived' });
      return exchangeResultOf(handle.record, null, null);
    }
    handle.finish();
    const result = answer !== null && 'result' in answer ? (answer.result as Record<string, unknown>) : null;
    return exchangeResultOf(handle.record, result, null);
  }

  /**
   * A POST for a session id that is not one of ours: the control request's made-up id. It goes
   * to the endpoint the upstream announced, with the session id in its query replaced.
   */
  private async postOutsideSession(message: JsonRpcRequest, send: SendOptions): Promise<ExchangeResult> {
    const handle = this.opts.tracker.begin({
      upstream: this.opts.upstream,
      transport: 'sse',
      httpMethod: 'POST',
      sessionId: send.trackedSessionId !== undefined ? send.trackedSessionId : (send.sessionId ?? null),
      request: readRequestEnvelope(JSON.stringify(message)),
      protocolVersion: send.protocolVersion ?? null,
      probeRunId: this.opts.probeRunId,
      adopt: false,
    });
    if (this.lastEndpoint === null) {
      handle.finish({ connectionFailed: true, errorText: 'no legacy endpoint known yet' });
      return exchangeResultOf(handle.record, null, null);
    }
    const target = new URL(this.lastEndpoint);
    const param = [...target.searchParams.keys()].find((k) => /session/i.test(k)) ?? 'sessionId';
    target.searchParams.set(param, send.sessionId ?? '');
    const timeoutMs = Math.min(this.opts.timeoutMs, CONTROL_TIMEOUT_MS);
    try {
      const res = await request(target, {
        method: 'POST',
        headers: { ...this.opts.headers, ...this.credential, 'content-type': 'application/json' },
        body: JSON.stringify(message),
        dispatcher: this.opts.dispatcher,
        signal: this.opts.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      handle.headers(res.statusCode, null);
      const text = await res.body.text();
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      handle.finish({ errorText: ok ? null : redactText(text.slice(0, 500)) });
    } catch (err) {
      if (this.opts.signal.aborted) {
        handle.finish({ clientAborted: true, aborted: true, errorText: 'probe cancelled' });
        throw new ProbeCancelled();
      }
      handle.finish({ timedOut: true, errorText: `no answer within ${timeoutMs / 1000}s (${String(err)})` });
    }
    return exchangeResultOf(handle.record, null, null);
  }
}

class StreamTimeout extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StreamTimeout(`no answer within ${ms / 1000}s`)), ms);
    const onAbort = () => reject(new ProbeCancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}
