import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';

/** What a heal needs to open a replacement upstream session. */
export interface ReinitializeOptions {
  /** The upstream's request pool. */
  dispatcher: Dispatcher;
  /** Path (and query) of the upstream endpoint. */
  path: string;
  /**
   * The agent's request headers as they were forwarded (flat name/value list): its credentials
   * go to the new session as they went to the old one. Session, framing and protocol-version
   * headers are replaced here.
   */
  headers: readonly string[];
  /** The `params` of the agent's original `initialize`, as JSON text. */
  initializeParams: string;
  /** The whole heal's deadline for each request (the upstream's `timeoutSeconds`). */
  timeoutMs: number;
  /**
   * Observation of the new session's `initialize` (the tracker records it as any session's
   * opening): called as the request leaves, with the body sent; the returned callback gets the
   * answer (status, session id, the JSON-RPC messages read, or an error text).
   */
  observeInitialize?: (body: string) => (answer: InitializeAnswer) => void;
}

export interface InitializeAnswer {
  status: number | null;
  sessionId: string | null;
  messages: string[];
  errorText: string | null;
}

export type ReinitializeResult =
  | { ok: true; sessionId: string; protocolVersion: string | null; initLatencyMs: number }
  | { ok: false; reason: string };

/** Answers larger than this are not read: an `initialize` result is a few kilobytes. */
const MAX_ANSWER_BYTES = 1 << 20;
const HEAL_RPC_ID = 'mcp-session-probe-heal';
const DROPPED = new Set([
  'mcp-session-id',
  'mcp-protocol-version',
  'content-length',
  'content-type',
  'accept',
  'last-event-id',
  'transfer-encoding',
]);

/**
 * Opens a new upstream session the way the agent opened its first one: the same `initialize`
 * parameters, then `notifications/initialized`. Never throws; a failure is a reason the caller
 * logs before it hands the agent the original answer.
 */
export async function reinitialize(opts: ReinitializeOptions): Promise<ReinitializeResult> {
  const started = performance.now();
  const base: string[] = [];
  for (let i = 0; i + 1 < opts.headers.length; i += 2) {
    if (!DROPPED.has(opts.headers[i]!.toLowerCase())) base.push(opts.headers[i]!, opts.headers[i + 1]!);
  }
  base.push('content-type', 'application/json', 'accept', 'application/json, text/event-stream');
  const initBody = `{"jsonrpc":"2.0","id":"${HEAL_RPC_ID}","method":"initialize","params":${opts.initializeParams}}`;
  const observed = opts.observeInitialize?.(initBody);
  try {
    let init: Answer;
    try {
      init = await post(opts, base, initBody);
    } catch (err) {
      observed?.({ status: null, sessionId: null, messages: [], errorText: (err as Error).message });
      throw err;
    }
    observed?.({
      status: init.status,
      sessionId: init.sessionId,
      messages: messagesIn(init.contentType, init.body),
      errorText: init.status >= 200 && init.status < 300 ? null : init.body.slice(0, 4096),
    });
    if (init.status < 200 || init.status >= 300)
      return { ok: false, reason: `initialize answered ${init.status}` };
    const sessionId = init.sessionId;
    if (!sessionId) return { ok: false, reason: 'initialize answered without a session id' };
    const result = findResponse(init.contentType, init.body);
    if (!result) return { ok: false, reason: 'initialize answer carried no JSON-RPC result' };
    if (result.error !== undefined) return { ok: false, reason: 'initialize answered with a JSON-RPC error' };
    const protocolVersion =
      typeof result.result?.protocolVersion === 'string' ? result.result.protocolVersion : null;
    const initLatencyMs = performance.now() - started;
    const sessionHeaders = [...base, 'mcp-session-id', sessionId];
    if (protocolVersion) sessionHeaders.push('mcp-protocol-version', protocolVersion);
    const initialized = await post(
      opts,
      sessionHeaders,
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    );
    if (initialized.status < 200 || initialized.status >= 300)
      return { ok: false, reason: `notifications/initialized answered ${initialized.status}` };
    return { ok: true, sessionId, protocolVersion, initLatencyMs };
  } catch (err) {
    return { ok: false, reason: (err as Error).message || 'request failed' };
  }
}

interface Answer {
  status: number;
  sessionId: string | null;
  contentType: string;
  body: string;
}

async function post(opts: ReinitializeOptions, headers: string[], body: string): Promise<Answer> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const res = await opts.dispatcher.request({
    method: 'POST',
    path: opts.path,
    headers,
    body,
    signal,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) throw new Error('initialize answer too large');
      chunks.push(chunk);
      // An SSE answer may stay open after the response event: stop once it is there.
      if (
        isEventStream(res.headers['content-type']) &&
        findResponse('text/event-stream', Buffer.concat(chunks).toString('utf8'))
      )
        break;
    }
  } finally {
    // The rest of the body (an SSE stream left open) is not needed; discard it without an unhandled 'error'.
    res.body.on('error', () => {});
    res.body.destroy();
  }
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
  };
  return {
    status: res.statusCode,
    sessionId: header('mcp-session-id'),
    contentType: header('content-type') ?? '',
    body: Buffer.concat(chunks).toString('utf8'),
  };
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  const v = Array.isArray(contentType) ? contentType[0] : contentType;
  return v?.toLowerCase().startsWith('text/event-stream') === true;
}

interface RpcAnswer {
  result?: { protocolVersion?: unknown };
  error?: unknown;
}

/** The JSON-RPC message texts of a JSON or SSE answer. */
function messagesIn(contentType: string, body: string): string[] {
  if (!isEventStream(contentType)) return body.length > 0 ? [body] : [];
  const messages: string[] = [];
  const parser = createParser({ onEvent: (e) => messages.push(e.data) });
  parser.feed(body);
  return messages;
}

/** The JSON-RPC response to the heal's `initialize` in a JSON or SSE answer. */
function findResponse(contentType: string, body: string): RpcAnswer | null {
  for (const text of messagesIn(contentType, body)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue;
    }
    for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
      if (msg && typeof msg === 'object' && (msg as { id?: unknown }).id === HEAL_RPC_ID)
        return msg as RpcAnswer;
    }
  }
  return null;
}
