// The prober's only way onto the network. Every request goes through `ProbeWire.send`,
// which checks the read-only guard first and records the exchange with the same
// SessionTracker code the proxy uses, so idle gap, session age and the outcome class
// of a probe exchange are computed exactly as for passive traffic.
import { isIP, connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type Dispatcher, request, errors as undiciErrors } from 'undici';
import type { RequestAuthorizer } from '../auth/authorizer.js';
import { insufficientScope } from '../auth/challenge.js';
import { firstHeader } from '../proxy/headers.js';
import { redactText } from '../security/redact.js';
import { readRequestEnvelope, readResponseEnvelope, readResponseEnvelopeBytes } from '../sessions/jsonrpc.js';
import { SseReader } from '../sessions/sseReader.js';
import type { ExchangeHandle, SessionTracker } from '../sessions/tracker.js';
import type { ExchangeRecord, Outcome } from '../sessions/types.js';
import { assertReadOnly, type ProbeHttpMethod } from './readOnly.js';

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  method: string;
  id?: number | string;
  params?: Record<string, unknown>;
}

export interface ProbeWireOptions {
  upstream: string;
  url: string;
  /** Configured headers (auth): sent on every probe request. */
  headers: Readonly<Record<string, string>>;
  /** OAuth: adds a fresh `Authorization` to every request (refreshing first when due). */
  auth?: RequestAuthorizer | null;
  /** What a person runs to log in (`mcp-session-probe login linear`), named when the upstream asks for it. */
  loginCommand?: string;
  timeoutMs: number;
  tracker: SessionTracker;
  probeRunId: string;
  holdStream: boolean;
  dispatcher: Dispatcher;
  /** Cancels the whole run. */
  signal: AbortSignal;
}

export interface SendOptions {
  /** Sent as `Mcp-Session-Id`. */
  sessionId?: string | null;
  /**
   * The session id the tracker files the exchange under; defaults to `sessionId`. The control
   * request sends a made-up id but is recorded without one, so it invents no session in the store.
   */
  trackedSessionId?: string | null;
  protocolVersion?: string | null;
  /** More request headers (the 2026 era's `Mcp-Method`); never credentials, those come from the config. */
  extraHeaders?: Readonly<Record<string, string>>;
}

export interface ExchangeResult {
  httpStatus: number | null;
  outcome: Outcome;
  /** `Mcp-Session-Id` in the response. */
  issuedSessionId: string | null;
  /** The `result` member of the JSON-RPC response to this request, when one arrived. */
  result: Record<string, unknown> | null;
  /** Request start to the JSON-RPC response (or the end of the answer). */
  latencyMs: number;
  errorMessage: string | null;
  record: ExchangeRecord;
}

/** The run was cancelled: not an observation about the upstream. */
export class ProbeCancelled extends Error {
  override readonly name = 'ProbeCancelled';
  constructor() {
    super('probe cancelled');
  }
}

export interface HeldStream {
  httpStatus: number | null;
  open: boolean;
  /** Resolves when the stream ends (server side or `close`). */
  ended: Promise<void>;
  close(): void;
}

const MAX_ERROR_TEXT = 500;

export class ProbeWire {
  /** Streamable HTTP may carry the sessionless era (2026-07-28); legacy HTTP+SSE never does. */
  readonly carriesSessionless: boolean = true;
  private nextId = 1;
  constructor(readonly opts: ProbeWireOptions) {}

  /** Lets go of a session's transport resources when it is not DELETEd (the legacy SSE wire closes its stream). */
  release?(sessionId: string): Promise<void>;

  /** One JSON-RPC POST: a request (waits for its response) or a notification. */
  async post(
    message: Omit<JsonRpcRequest, 'jsonrpc' | 'id'>,
    send: SendOptions = {},
  ): Promise<ExchangeResult> {
    const isNotification = message.method.startsWith('notifications/');
    const full: JsonRpcRequest = isNotification
      ? { jsonrpc: '2.0', ...message }
      : { jsonrpc: '2.0', id: this.nextId++, ...message };
    return this.send('POST', full, send);
  }

  /** Terminates a session (spec: DELETE with the session id). */
  delete(sessionId: string, protocolVersion: string | null): Promise<ExchangeResult> {
    return this.send('DELETE', null, { sessionId, protocolVersion });
  }

  private async headersFor(method: ProbeHttpMethod, send: SendOptions): Promise<Record<string, string>> {
    // Before anything is tracked: a login that cannot be refreshed sends nothing (AuthRequiredError).
    const credential = this.opts.auth ? await this.opts.auth.headers() : null;
    const h: Record<string, string> = {
      ...this.opts.headers,
      ...credential,
      accept: method === 'GET' ? 'text/event-stream' : 'application/json, text/event-stream',
    };
    if (method === 'POST') h['content-type'] = 'application/json';
    if (send.sessionId) h['mcp-session-id'] = send.sessionId;
    if (send.protocolVersion) h['mcp-protocol-version'] = send.protocolVersion;
    if (send.extraHeaders) Object.assign(h, send.extraHeaders);
    return h;
  }

  private beginTracked(method: ProbeHttpMethod, body: string | null, send: SendOptions): ExchangeHandle {
    return this.opts.tracker.begin({
      upstream: this.opts.upstream,
      transport: 'streamable-http',
      httpMethod: method,
      sessionId: send.trackedSessionId !== undefined ? send.trackedSessionId : (send.sessionId ?? null),
      request: readRequestEnvelope(body ?? ''),
      protocolVersion: send.protocolVersion ?? null,
      probeRunId: this.opts.probeRunId,
    });
  }

  private async send(
    method: 'POST' | 'DELETE',
    message: JsonRpcRequest | null,
    send: SendOptions,
  ): Promise<ExchangeResult> {
    const first = await this.sendOnce(method, message, send);
    // A stored login's token refused at `initialize` (revoked, or the clocks disagree): the 401
    // marked it stale, so one more try goes with a refreshed one. A 401 after that is the
    // login's problem, which the caller reports as auth_required.
    if (first.httpStatus === 401 && this.opts.auth && message?.method === 'initialize')
      return this.sendOnce(method, message, send);
    return first;
  }

  private async sendOnce(
    method: 'POST' | 'DELETE',
    message: JsonRpcRequest | null,
    send: SendOptions,
  ): Promise<ExchangeResult> {
    assertReadOnly({ httpMethod: method, message, holdStream: this.opts.holdStream });
    if (this.opts.signal.aborted) throw new ProbeCancelled();
    const body = message ? JSON.stringify(message) : null;
    const headers = await this.headersFor(method, send);
    const handle = this.beginTracked(method, body, send);
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const signal = AbortSignal.any([this.opts.signal, timeout]);
    let issuedSessionId: string | null = null;
    let result: Record<string, unknown> | null = null;
    let errorText: string | null = null;
    let missingScope: string | null = null;
    try {
      const res = await request(this.opts.url, {
        method,
        headers,
        body,
        dispatcher: this.opts.dispatcher,
        signal,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      issuedSessionId = firstHeader(res.headers['mcp-session-id']);
      handle.headers(res.statusCode, issuedSessionId);
      // The token was refused: the next request refreshes first (this answer stays an `auth` outcome).
      if (res.statusCode === 401) this.opts.auth?.rejected();
      if (this.opts.auth)
        missingScope = insufficientScope(res.statusCode, firstHeader(res.headers['www-authenticate']));
      const contentType = firstHeader(res.headers['content-type']) ?? '';
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const wantedId = message?.id === undefined ? null : String(message.id);
      if (ok && contentType.startsWith('text/event-stream')) {
        result = await readSseAnswer(res.body, handle, wantedId);
      } else {
        const text = await res.body.text();
        if (ok && contentType.includes('json')) result = readJsonAnswer(text, handle, wantedId);
        else if (!ok) {
          const env = readResponseEnvelope(text);
          if (env.hasError) handle.message(env);
          errorText = redactText(env.errorMessage ?? text.slice(0, MAX_ERROR_TEXT));
        }
      }
      handle.finish({ errorText });
    } catch (err) {
      if (this.opts.signal.aborted) {
        handle.finish({ clientAborted: true, aborted: true, errorText: 'probe cancelled' });
        throw new ProbeCancelled();
      }
      const timedOut =
        timeout.aborted ||
        err instanceof undiciErrors.HeadersTimeoutError ||
        err instanceof undiciErrors.BodyTimeoutError ||
        err instanceof undiciErrors.ConnectTimeoutError;
      const headersSeen = handle.record.httpStatus !== null;
      handle.finish({
        timedOut: timedOut && !headersSeen,
        connectionFailed: !timedOut && !headersSeen,
        aborted: headersSeen,
        errorText: timedOut
          ? `no answer within ${this.opts.timeoutMs / 1000}s`
          : redactText(describeError(err)),
      });
    }
    // Only a new login, in a browser, can widen a grant: the probe of this upstream ends here.
    if (missingScope !== null && this.opts.auth)
      throw this.opts.auth.refused(
        `${message?.method ?? method} needs ${missingScope ? `scope "${missingScope}"` : 'more scope'}, which the stored login was not granted (HTTP 403 insufficient_scope)`,
      );
    return exchangeResultOf(handle.record, result, issuedSessionId);
  }

  /** Opens a standalone GET stream on a session and keeps reading it until `close`. */
  async openStream(sessionId: string, protocolVersion: string | null): Promise<HeldStream> {
    assertReadOnly({ httpMethod: 'GET', holdStream: this.opts.holdStream });
    if (this.opts.signal.aborted) throw new ProbeCancelled();
    const send = { sessionId, protocolVersion };
    const headers = await this.headersFor('GET', send);
    const handle = this.beginTracked('GET', null, send);
    const abort = new AbortController();
    const stopOnCancel = () => abort.abort();
    this.opts.signal.addEventListener('abort', stopOnCancel, { once: true });
    const release = () => this.opts.signal.removeEventListener('abort', stopOnCancel);
    try {
      const res = await request(this.opts.url, {
        method: 'GET',
        headers,
        dispatcher: this.opts.dispatcher,
        signal: abort.signal,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: 0,
      });
      handle.headers(res.statusCode, null);
      const open = res.statusCode >= 200 && res.statusCode < 300;
      if (!open) {
        const text = await res.body.text().catch(() => '');
        handle.finish({ errorText: redactText(text.slice(0, MAX_ERROR_TEXT)) });
        release();
        return { httpStatus: res.statusCode, open: false, ended: Promise.resolve(), close() {} };
      }
      this.opts.tracker.streamOpened(handle);
      const ended = new Promise<void>((resolve) => {
        res.body.on('data', () => {});
        res.body.once('end', () => {
          handle.finish({ errorText: null });
          resolve();
        });
        res.body.once('error', () => {
          handle.finish({ clientAborted: abort.signal.aborted, aborted: true, errorText: 'stream ended' });
          resolve();
        });
      }).finally(release);
      return {
        httpStatus: res.statusCode,
        open: true,
        ended,
        close: () => abort.abort(),
      };
    } catch (err) {
      release();
      if (this.opts.signal.aborted) {
        handle.finish({ clientAborted: true, aborted: true, errorText: 'probe cancelled' });
        throw new ProbeCancelled();
      }
      handle.finish({ connectionFailed: true, errorText: redactText(describeError(err)) });
      return { httpStatus: null, open: false, ended: Promise.resolve(), close() {} };
    }
  }
}

/** Reads SSE events until the response to `wantedId` arrives; returns its `result`. */
async function readSseAnswer(
  body: AsyncIterable<Buffer> & Parameters<typeof discardBody>[0],
  handle: ExchangeHandle,
  wantedId: string | null,
): Promise<Record<string, unknown> | null> {
  let result: Record<string, unknown> | null = null;
  let done = false;
  const reader = new SseReader(({ data }) => {
    const env = readResponseEnvelopeBytes(data);
    handle.message(env, data);
    if (env.isResponse && (wantedId === null || env.id === wantedId)) {
      result = resultOf(data.toString('utf8'));
      done = true;
    }
  });
  for await (const chunk of body) {
    reader.push(chunk);
    if (done) break;
  }
  // The SDK closes the stream after the answer anyway; breaking early saves a round trip of waiting.
  discardBody(body);
  return result;
}

/**
 * Lets go of a response body that is no longer wanted, whatever state it is in. undici turns a
 * bare `destroy()` of an unfinished body into an 'error' event (RequestAbortedError), which
 * with no listener would bring the whole process down; the listener stays for any later error.
 */
export function discardBody(body: { on(event: 'error', fn: () => void): unknown; destroy(): void }): void {
  body.on('error', ignoreBodyError);
  body.destroy();
}

function ignoreBodyError(): void {}

function readJsonAnswer(
  text: string,
  handle: ExchangeHandle,
  wantedId: string | null,
): Record<string, unknown> | null {
  const env = readResponseEnvelope(text);
  handle.message(env, text);
  return env.isResponse && (wantedId === null || env.id === wantedId) ? resultOf(text) : null;
}

function resultOf(text: string): Record<string, unknown> | null {
  try {
    const msg = JSON.parse(text) as { result?: unknown };
    const r = msg.result;
    return r !== null && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A network error as one short phrase: its code (`ECONNREFUSED`), else its message. */
export function describeError(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.message ?? 'connection failed';
}

/** Time to open a TCP (and TLS, for https) connection to the upstream; null when it fails. */
export function measureConnectMs(url: string, timeoutMs: number): Promise<number | null> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const port = Number(u.port || (secure ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = secure
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) })
      : netConnect({ host, port });
    const done = (value: number | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => done(performance.now() - started));
    socket.once('error', () => done(null));
  });
}

/** What a probe step learns from one finished exchange (latency up to the JSON-RPC response). */
export function exchangeResultOf(
  r: ExchangeRecord,
  result: Record<string, unknown> | null,
  issuedSessionId: string | null,
): ExchangeResult {
  const end = r.responseAt ?? r.endedAt ?? r.startedAt;
  return {
    httpStatus: r.httpStatus,
    outcome: r.outcome,
    issuedSessionId,
    result: r.outcome === 'ok' ? result : null,
    latencyMs: end - r.startedAt,
    errorMessage: r.errorMessage,
    record: r,
  };
}
