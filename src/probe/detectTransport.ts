// `transport: "auto"`: which transport does an upstream speak? The spec's backwards-
// compatibility section: POST an InitializeRequest first; a Streamable HTTP server answers
// it, a legacy HTTP+SSE server answers 4xx (404/405), and then a GET opens its SSE stream
// whose first event is `endpoint`. What was found is remembered in the store.
import { type Dispatcher, request } from 'undici';
import { firstHeader } from '../proxy/headers.js';
import { MAX_BYTES_BEFORE_ENDPOINT } from '../proxy/legacyEndpoint.js';
import { redactText, redactUrl } from '../security/redact.js';
import { readResponseEnvelope } from '../sessions/jsonrpc.js';
import { SseReader } from '../sessions/sseReader.js';
import type { TransportKind } from '../sessions/types.js';
import type { ObservationStore } from '../store/types.js';
import { LATEST_PROTOCOL_VERSION } from './protocol.js';
import { assertReadOnly } from './readOnly.js';
import { PROBE_CLIENT_INFO } from './session.js';
import { describeError, discardBody } from './wire.js';

export interface TransportDetection {
  transport: TransportKind;
  /** What decided it, for logs and the probe result. */
  evidence: string;
}

export interface DetectTransportOptions {
  timeoutMs?: number;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

/** How much of a refusal's body is read for the error message, and for how long at most. */
const ANSWER_PREFIX_BYTES = 4096;
const ANSWER_WAIT_MS = 2000;

/** Status codes of the initialize POST that mean "not a Streamable HTTP endpoint" (spec: 4xx, e.g. 404/405). */
const LEGACY_HINT_STATUSES = new Set([400, 404, 405]);

export class TransportDetectionError extends Error {
  override readonly name = 'TransportDetectionError';
  constructor(
    message: string,
    /** The status `initialize` was refused with, when that is why detection stopped. */
    readonly refusedStatus: number | null = null,
  ) {
    super(message);
  }
}

/**
 * Detects the transport of the MCP server at `url`. `headers` are the upstream's configured
 * headers (auth). A Streamable HTTP session opened by the test is deleted again; a legacy
 * stream is closed as soon as its endpoint event arrived. Throws `TransportDetectionError`
 * naming the URL (redacted), what was answered and what to do.
 */
export async function detectTransport(
  url: string,
  headers: Readonly<Record<string, string>> = {},
  opts: DetectTransportOptions = {},
): Promise<TransportDetection> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const shown = redactUrl(url);
  const timeouts = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs };

  let initStatus: number;
  let initAnswer = '';
  const initialize = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: PROBE_CLIENT_INFO },
  };
  assertReadOnly({ httpMethod: 'POST', message: initialize, holdStream: false });
  try {
    const res = await request(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(initialize),
      dispatcher: opts.dispatcher,
      signal: opts.signal,
      ...timeouts,
    });
    initStatus = res.statusCode;
    const sessionId = firstHeader(res.headers['mcp-session-id']);
    const ok = initStatus >= 200 && initStatus < 300;
    // A refusal's body says why (e.g. -32022, an unsupported protocol version); a 2xx body is not
    // needed at all. Either way a body that never ends must not hold detection up.
    if (!ok) initAnswer = describeAnswer(await readBodyPrefix(res.body, Math.min(timeoutMs, ANSWER_WAIT_MS)));
    discardBody(res.body);
    if (ok) {
      if (sessionId !== null) await deleteQuietly(url, headers, sessionId, { ...opts, timeoutMs });
      return { transport: 'streamable-http', evidence: `POST initialize answered ${initStatus}` };
    }
  } catch (err) {
    throw new TransportDetectionError(
      `transport auto: ${shown} did not answer an initialize POST (${redactText(describeError(err))}); check the URL, or set transport explicitly`,
    );
  }
  if (initStatus === 401 || initStatus === 403) {
    throw new TransportDetectionError(
      `transport auto: ${shown} answered the initialize POST with ${initStatus}${initAnswer}`,
      initStatus,
    );
  }
  if (!LEGACY_HINT_STATUSES.has(initStatus)) {
    throw new TransportDetectionError(
      `transport auto: ${shown} answered the initialize POST with ${initStatus}${initAnswer}, which says neither Streamable HTTP nor HTTP+SSE; set transport explicitly`,
    );
  }

  // The legacy transport's GET stream is its session itself, not an extra held stream.
  assertReadOnly({ httpMethod: 'GET', holdStream: true });
  try {
    const res = await request(url, {
      method: 'GET',
      headers: { ...headers, accept: 'text/event-stream' },
      dispatcher: opts.dispatcher,
      signal: opts.signal,
      ...timeouts,
    });
    const contentType = firstHeader(res.headers['content-type']) ?? '';
    if (res.statusCode !== 200 || !contentType.startsWith('text/event-stream')) {
      discardBody(res.body);
      throw new TransportDetectionError(
        `transport auto: ${shown} answered the initialize POST with ${initStatus}${initAnswer} and a GET with ${res.statusCode} (${contentType || 'no content type'}); it speaks neither transport at this URL`,
      );
    }
    const found = await sawEndpointEvent(res.body).finally(() => discardBody(res.body));
    if (!found) {
      throw new TransportDetectionError(
        `transport auto: ${shown} opened an event stream but sent no endpoint event first; set transport explicitly`,
      );
    }
    return {
      transport: 'sse',
      evidence: `POST initialize answered ${initStatus}; GET opened an SSE stream announcing an endpoint`,
    };
  } catch (err) {
    if (err instanceof TransportDetectionError) throw err;
    throw new TransportDetectionError(
      `transport auto: ${shown} answered the initialize POST with ${initStatus}${initAnswer} and no legacy SSE stream within ${timeoutMs / 1000}s (${redactText(describeError(err))})`,
    );
  }
}

/**
 * The configured transport, or for `auto` the one remembered in the store, or else the one
 * detected now (and remembered). `transport` is the config value (`http` already mapped).
 */
export async function resolveTransport(
  upstream: { id: string; url: string; transport: string; headers?: Readonly<Record<string, string>> },
  store:
    | (Pick<ObservationStore, 'setUpstreamFlags'> & Partial<Pick<ObservationStore, 'listUpstreams'>>)
    | null,
  opts: DetectTransportOptions = {},
): Promise<TransportDetection> {
  if (upstream.transport === 'streamable-http' || upstream.transport === 'sse') {
    return { transport: upstream.transport, evidence: 'configured' };
  }
  const stored = store?.listUpstreams
    ? (await store.listUpstreams()).find((u) => u.id === upstream.id)
    : undefined;
  if (stored?.transport === 'streamable-http' || stored?.transport === 'sse') {
    return { transport: stored.transport, evidence: 'detected earlier (store)' };
  }
  const found = await detectTransport(upstream.url, upstream.headers ?? {}, opts);
  await store?.setUpstreamFlags(upstream.id, { transport: found.transport });
  return found;
}

/**
 * The first bytes of a body, as text: stops at `ANSWER_PREFIX_BYTES`, at the end, at an error
 * (a reset mid-body) or after `waitMs` (a body that never ends). Never throws.
 */
async function readBodyPrefix(body: AsyncIterable<Buffer>, waitMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), waitMs);
  });
  const reading = (async () => {
    try {
      for await (const chunk of body) {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= ANSWER_PREFIX_BYTES) break;
      }
    } catch {
      // What arrived before the error is still worth showing.
    }
  })();
  await Promise.race([reading, timedOut]);
  clearTimeout(timer);
  return Buffer.concat(chunks).subarray(0, ANSWER_PREFIX_BYTES).toString('utf8');
}

/** ` (JSON-RPC -32022: Unsupported protocol version)` or ` ("<start of the body>")`, redacted; '' when empty. */
function describeAnswer(text: string): string {
  const env = readResponseEnvelope(text);
  if (env.hasError && (env.errorCode !== null || env.errorMessage)) {
    const code = env.errorCode === null ? '' : ` ${env.errorCode}`;
    return ` (JSON-RPC${code}${env.errorMessage ? `: ${redactText(env.errorMessage.slice(0, 200))}` : ''})`;
  }
  const start = text.replace(/\s+/g, ' ').trim().slice(0, 120);
  return start ? ` ("${redactText(start)}")` : '';
}

async function sawEndpointEvent(body: AsyncIterable<Buffer>): Promise<boolean> {
  let found = false;
  let events = 0;
  // Byte-level: a CR that ends a chunk ends its line at once (a legacy stream stays open after
  // the endpoint event, so no later byte may come to settle it).
  const reader = new SseReader((event) => {
    events++;
    if (event.type === 'endpoint') found = true;
  }, MAX_BYTES_BEFORE_ENDPOINT);
  for await (const chunk of body) {
    reader.push(chunk);
    // The endpoint event comes first; a few events without it settle the question.
    if (found || events >= 5 || reader.gaveUp) break;
  }
  return found;
}

async function deleteQuietly(
  url: string,
  headers: Readonly<Record<string, string>>,
  sessionId: string,
  opts: DetectTransportOptions & { timeoutMs: number },
): Promise<void> {
  assertReadOnly({ httpMethod: 'DELETE', holdStream: false });
  try {
    const res = await request(url, {
      method: 'DELETE',
      headers: { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
      dispatcher: opts.dispatcher,
      signal: opts.signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    discardBody(res.body);
  } catch {
    // A server without DELETE forgets the session on its own.
  }
}
