/**
 * A configurable Streamable HTTP MCP server built on the official SDK: the built-in demo
 * upstream of `mcp-session-probe serve` and the fixture upstream of the test suite.
 *
 * It reproduces the ways real servers let sessions die (idle timeout, absolute lifetime,
 * periodic sweeps, sessions spared while a GET stream is open) and the ways they say so
 * (the spec's 404, the SDK examples' 400, the Python SDK's 404, a 401, or not at all).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { eraOfVersion } from '../sessions/era.js';
import { PROTOCOL_VERSION_META_KEY } from '../sessions/jsonrpc.js';
import type { SessionlessLeg } from './sessionless.js';

/** How the upstream answers a request whose session id it does not know (any more). */
export type ExpiryStyle = 'spec' | 'sdk-400' | 'python-404' | '401' | 'accept-any';

export interface DemoUpstreamOptions {
  /** A session is forgotten after this long without a request. Default: never. */
  idleTimeoutMs?: number;
  /** A session is forgotten this long after `initialize`, whatever its activity. Default: never. */
  lifetimeMs?: number;
  /**
   * When set, expiry is enforced only by a sweeper running every this many ms, as many real
   * servers do: a session becomes eligible at its timeout and disappears at the next sweep.
   * When unset, expiry is decided exactly when a request arrives.
   */
  sweepIntervalMs?: number;
  /** Default `'spec'`. */
  expiryStyle?: ExpiryStyle;
  /** No session id at all: a fresh server and transport per request, as the SDK's stateless example. */
  stateless?: boolean;
  /** `'json'` answers POSTs with `application/json` (`enableJsonResponse`); default `'sse'`. */
  responseMode?: 'json' | 'sse';
  /** Delay before answering `initialize` (the "init tax" of hosted servers). */
  initDelayMs?: number;
  /** Delay before handling every other request. */
  latencyMs?: number;
  /** Sessions with an open standalone GET stream never idle-expire. */
  spareWithStream?: boolean;
  /** Number of tools listed; the first three are `echo`, `add`, `slow_progress`. Default 3. */
  toolCount?: number;
  /** Pad the tool list so that `tools/list` is about 30 KB (benchmarks). */
  largeToolList?: boolean;
  /** Expect `Authorization: Bearer <requireAuth>`; anything else gets a 401 with `WWW-Authenticate`. */
  requireAuth?: string;
  /** Called with every JSON-RPC method received, and with `'GET'` / `'DELETE'` for those HTTP requests. */
  onMethod?: (method: string) => void;
  /** Clock for expiry decisions. Default `Date.now`. */
  now?: () => number;
  /**
   * Also answer MCP 2026-07-28 requests (the per-request `_meta` envelope) on the same URL,
   * sessionless, through the official SDK v2 (src/demo/sessionless.ts); 2025 requests keep
   * their sessions. Not with `stateless`.
   */
  sessionless?: boolean;
}

export interface UpstreamStats {
  /** Every JSON-RPC method received in arrival order, plus `'GET'` / `'DELETE'` for those HTTP requests. */
  readonly methods: string[];
  /** Sessions issued by `initialize` so far. */
  sessionsCreated: number;
  /** Sessions currently known to the server. */
  activeSessions(): number;
}

export interface DemoUpstream {
  /** `http://127.0.0.1:PORT/mcp` */
  url: string;
  port: number;
  close(): Promise<void>;
  stats: UpstreamStats;
}

interface DemoSession {
  id: string;
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  createdAt: number;
  lastActivityAt: number;
  /** POSTs and DELETEs being handled: a session busy answering is not idle. */
  inFlight: number;
  /** Standalone GET streams currently open. */
  openStreams: number;
}

type ExpiryPolicy = Pick<DemoUpstreamOptions, 'idleTimeoutMs' | 'lifetimeMs' | 'spareWithStream'>;

/** Pure expiry rule shared by the request-time check and the sweeper. */
export function isSessionExpired(
  session: Pick<DemoSession, 'createdAt' | 'lastActivityAt' | 'inFlight' | 'openStreams'>,
  now: number,
  { idleTimeoutMs, lifetimeMs, spareWithStream }: ExpiryPolicy,
): boolean {
  if (lifetimeMs !== undefined && now - session.createdAt >= lifetimeMs) return true;
  if (idleTimeoutMs === undefined || session.inFlight > 0) return false;
  if (spareWithStream && session.openStreams > 0) return false;
  return now - session.lastActivityAt >= idleTimeoutMs;
}

export interface JsonRpcErrorAnswer {
  status: number;
  body: Record<string, unknown>;
}

export function jsonRpcError(code: number, message: string, id: string | number | null = null) {
  return { jsonrpc: '2.0', error: { code, message }, id };
}

/** What each style of server answers for an unknown or expired session id (bodies copied from the originals). */
const EXPIRY_ANSWERS: Record<Exclude<ExpiryStyle, 'accept-any'>, JsonRpcErrorAnswer> = {
  spec: { status: 404, body: jsonRpcError(-32001, 'Session not found') },
  'sdk-400': { status: 400, body: jsonRpcError(-32000, 'Bad Request: No valid session ID provided') },
  // The Python SDK answers with id "server-error" and INVALID_REQUEST.
  'python-404': {
    status: 404,
    body: { jsonrpc: '2.0', id: 'server-error', error: { code: -32600, message: 'Session not found' } },
  },
  '401': { status: 401, body: jsonRpcError(-32000, 'Unauthorized: No valid session ID provided') },
};

/** The SDK examples' answer to a non-initialize request without any session id. */
const MISSING_SESSION_ANSWER: JsonRpcErrorAnswer = EXPIRY_ANSWERS['sdk-400'];

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const { expiryStyle = 'spec', sweepIntervalMs, now = Date.now } = options;
  const sessions = new Map<string, DemoSession>();
  const stats = createUpstreamStats(() => sessions.size);
  const serverOptions = { toolCount: options.toolCount, largeToolList: options.largeToolList };

  function forgetSession(session: DemoSession): void {
    if (sessions.get(session.id) !== session) return;
    sessions.delete(session.id);
    // Closing ends any open GET stream, as a real server restart or reaper would.
    void session.server.close().catch(() => {});
  }

  /** The live session for an id, or undefined; without a sweeper, expiry is decided right here. */
  function findLiveSession(sessionId: string): DemoSession | undefined {
    const session = sessions.get(sessionId);
    if (!session) return undefined;
    if (sweepIntervalMs === undefined && isSessionExpired(session, now(), options)) {
      forgetSession(session);
      return undefined;
    }
    return session;
  }

  const sweeper =
    sweepIntervalMs === undefined
      ? undefined
      : setInterval(() => {
          for (const session of [...sessions.values()]) {
            if (isSessionExpired(session, now(), options)) forgetSession(session);
          }
        }, sweepIntervalMs);
  sweeper?.unref();

  async function openSession(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const server = createDemoMcpServer(serverOptions);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: options.responseMode === 'json',
      onsessioninitialized: (id) => {
        const at = now();
        const session: DemoSession = {
          id,
          server,
          transport,
          createdAt: at,
          lastActivityAt: at,
          inFlight: 0,
          openStreams: 0,
        };
        sessions.set(id, session);
        stats.sessionsCreated += 1;
        // DELETE (or any close) removes the session from the registry.
        server.server.onclose = () => forgetSession(session);
      },
    });
    await server.connect(transport);
    await sleepIfPositive(options.initDelayMs);
    await transport.handleRequest(req, res, body);
  }

  async function serveOnSession(
    session: DemoSession,
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
  ): Promise<void> {
    const isStream = req.method === 'GET';
    session.lastActivityAt = now();
    if (isStream) session.openStreams += 1;
    else session.inFlight += 1;
    res.once('close', () => {
      if (isStream) session.openStreams -= 1;
      else session.inFlight -= 1;
      // The idle clock restarts when the exchange ends, matching the probe's idle-gap definition.
      session.lastActivityAt = now();
    });
    await sleepIfPositive(options.latencyMs);
    await session.transport.handleRequest(req, res, body);
  }

  /** The `accept-any` server: it never checks ids and serves the request statelessly under the id given. */
  async function serveUnderMadeUpId(
    sessionId: string,
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
  ): Promise<void> {
    res.setHeader('mcp-session-id', sessionId);
    await sleepIfPositive(options.latencyMs);
    await serveStatelessly(req, res, body, { ...serverOptions, responseMode: options.responseMode });
  }

  async function handleStateful(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const sessionId = headerValue(req, 'mcp-session-id');
    if (sessionId === undefined) {
      if (req.method === 'POST' && isInitializeRequest(body)) return openSession(req, res, body);
      return sendJson(res, MISSING_SESSION_ANSWER);
    }
    const session = findLiveSession(sessionId);
    if (session) return serveOnSession(session, req, res, body);
    if (expiryStyle === 'accept-any') return serveUnderMadeUpId(sessionId, req, res, body);
    return sendJson(res, EXPIRY_ANSWERS[expiryStyle]);
  }

  async function handleStateless(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    // The SDK's stateless example offers no GET stream and nothing to DELETE.
    if (req.method !== 'POST') {
      return sendJson(res, { status: 405, body: jsonRpcError(-32000, 'Method not allowed.') });
    }
    await sleepIfPositive(isInitializeRequest(body) ? options.initDelayMs : options.latencyMs);
    await serveStatelessly(req, res, body, { ...serverOptions, responseMode: options.responseMode });
  }

  // Both eras on one URL. The SDK v2 is loaded at the first request that names a 2026 version
  // (start-up stays as fast as before); its own routing then has the last word.
  let sessionlessLeg: Promise<SessionlessLeg> | null = null;
  async function handleBothEras(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    if (options.sessionless && namesSessionlessVersion(req, body)) {
      sessionlessLeg ??= import('./sessionless.js').then((m) => m.startSessionlessLeg());
      const leg = await sessionlessLeg;
      if (await leg.claims(req, body)) return leg.serve(req, res, body);
    }
    return handleStateful(req, res, body);
  }

  const httpServer = createServer((req, res) => {
    handleMcpHttpRequest(req, res, {
      paths: ['/mcp'],
      stats,
      requireAuth: options.requireAuth,
      onMethod: options.onMethod,
      handle: options.stateless ? handleStateless : handleBothEras,
    }).catch((error: unknown) => answerInternalError(res, error));
  });
  const port = await listenOnLoopback(httpServer);

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    stats,
    // Idempotent, so a test may close early and an afterEach hook close again.
    close() {
      closing ??= (async () => {
        if (sweeper) clearInterval(sweeper);
        for (const session of [...sessions.values()]) forgetSession(session);
        if (sessionlessLeg) await (await sessionlessLeg).close();
        await closeHttpServer(httpServer);
      })();
      return closing;
    },
  };
}

/** A POST whose `_meta` envelope or `MCP-Protocol-Version` header names a 2026-era version. */
function namesSessionlessVersion(req: IncomingMessage, body: unknown): boolean {
  if (req.method !== 'POST' || Array.isArray(body)) return false;
  const meta = (body as { params?: { _meta?: Record<string, unknown> } } | null)?.params?._meta;
  const version = meta?.[PROTOCOL_VERSION_META_KEY] ?? headerValue(req, 'mcp-protocol-version');
  return typeof version === 'string' && eraOfVersion(version) === '2026';
}

async function serveStatelessly(
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
  { responseMode, ...serverOptions }: DemoServerOptions & { responseMode?: 'json' | 'sse' },
): Promise<void> {
  const server = createDemoMcpServer(serverOptions);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: responseMode === 'json',
  });
  res.once('close', () => {
    void server.close().catch(() => {});
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

// ---------------------------------------------------------------------------
// The MCP server itself: the same tools, prompt and resource for every transport.
// ---------------------------------------------------------------------------

export interface DemoServerOptions {
  toolCount?: number;
  largeToolList?: boolean;
}

/** Roughly how large `tools/list` gets with `largeToolList`. */
const LARGE_TOOL_LIST_BYTES = 30_000;
const LARGE_TOOL_DESCRIPTION_CHARS = 900;

type ToolRegistration = (server: McpServer) => void;

const CORE_TOOLS: ToolRegistration[] = [
  (server) =>
    server.registerTool(
      'echo',
      { description: 'Returns its text unchanged.', inputSchema: { text: z.string() } },
      async ({ text }) => ({ content: [{ type: 'text', text }] }),
    ),
  (server) =>
    server.registerTool(
      'add',
      { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } },
      async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
    ),
  (server) =>
    server.registerTool(
      'slow_progress',
      {
        description: 'Sends `steps` progress notifications, `intervalMs` apart, then answers.',
        inputSchema: {
          steps: z.number().int().min(1).max(100).default(3),
          intervalMs: z.number().int().min(0).max(10_000).default(50),
        },
      },
      async ({ steps, intervalMs }, extra) => {
        const progressToken = extra._meta?.progressToken;
        for (let progress = 1; progress <= steps; progress += 1) {
          await sleep(intervalMs);
          // Progress only goes to clients that asked for it with a progress token.
          if (progressToken !== undefined) {
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken, progress, total: steps, message: `step ${progress} of ${steps}` },
            });
          }
        }
        return { content: [{ type: 'text', text: `done after ${steps} steps` }] };
      },
    ),
];

function registerFillerTool(server: McpServer, index: number, description: string): void {
  const name = `filler_${index}`;
  server.registerTool(name, { description, inputSchema: { note: z.string().optional() } }, async () => ({
    content: [{ type: 'text', text: name }],
  }));
}

export function createDemoMcpServer({
  toolCount = 3,
  largeToolList = false,
}: DemoServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: 'mcp-session-probe-demo', version: '0.1.0' },
    { capabilities: { tools: {}, prompts: {}, resources: {} } },
  );
  for (const register of CORE_TOOLS.slice(0, toolCount)) register(server);
  for (let index = CORE_TOOLS.length + 1; index <= toolCount; index += 1) {
    registerFillerTool(server, index, `Filler tool number ${index}.`);
  }
  if (largeToolList) {
    const padding = 'A long description so that tools/list weighs what real servers send. '.repeat(
      Math.ceil(LARGE_TOOL_DESCRIPTION_CHARS / 70),
    );
    const count = Math.ceil(LARGE_TOOL_LIST_BYTES / LARGE_TOOL_DESCRIPTION_CHARS);
    for (let index = 1; index <= count; index += 1) {
      registerFillerTool(server, 1000 + index, padding.slice(0, LARGE_TOOL_DESCRIPTION_CHARS));
    }
  }
  server.registerPrompt(
    'greeting',
    { description: 'Greets someone by name.', argsSchema: { name: z.string() } },
    ({ name }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Say hello to ${name}.` } }],
    }),
  );
  server.registerResource(
    'about',
    'demo://about',
    { description: 'What this server is.', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, text: 'The mcp-session-probe demo upstream.' }] }),
  );
  return server;
}

// ---------------------------------------------------------------------------
// HTTP plumbing shared with the legacy HTTP+SSE upstream.
// ---------------------------------------------------------------------------

export function createUpstreamStats(activeSessions: () => number): UpstreamStats {
  return { methods: [], sessionsCreated: 0, activeSessions };
}

export interface McpHttpRoute {
  /** Paths this server answers; anything else is a plain 404. */
  paths: string[];
  stats: UpstreamStats;
  requireAuth: string | undefined;
  onMethod: ((method: string) => void) | undefined;
  handle: (req: IncomingMessage, res: ServerResponse, body: unknown) => Promise<void>;
}

/**
 * Steps every demo request goes through: route, read the JSON body, log what was received
 * (before any rejection, so a read-only check sees everything), check the bearer token, handle.
 */
export async function handleMcpHttpRequest(
  req: IncomingMessage,
  res: ServerResponse,
  { paths, stats, requireAuth, onMethod, handle }: McpHttpRoute,
): Promise<void> {
  if (!paths.includes(requestPath(req))) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    return;
  }
  const body = req.method === 'POST' ? await readJsonBody(req) : undefined;
  if (body instanceof SyntaxError) {
    return sendJson(res, { status: 400, body: jsonRpcError(-32700, 'Parse error: Invalid JSON') });
  }
  recordReceived(stats, onMethod, req.method, body);
  if (!isAuthorized(req, requireAuth)) return rejectUnauthorized(res);
  await handle(req, res, body);
}

/** Logs the JSON-RPC methods of a body (single or batch) and the GET/DELETE HTTP methods. */
export function recordReceived(
  stats: UpstreamStats,
  onMethod: ((method: string) => void) | undefined,
  httpMethod: string | undefined,
  body: unknown,
): void {
  const methods = httpMethod === 'GET' || httpMethod === 'DELETE' ? [httpMethod] : jsonRpcMethodsOf(body);
  for (const method of methods) {
    stats.methods.push(method);
    onMethod?.(method);
  }
}

function jsonRpcMethodsOf(body: unknown): string[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((message: unknown) =>
    typeof message === 'object' &&
    message !== null &&
    'method' in message &&
    typeof message.method === 'string'
      ? [message.method]
      : [],
  );
}

export function isAuthorized(req: IncomingMessage, requireAuth: string | undefined): boolean {
  return requireAuth === undefined || headerValue(req, 'authorization') === `Bearer ${requireAuth}`;
}

/** An auth failure as the SDK's bearer middleware words it: distinct from a session error by its WWW-Authenticate. */
export function rejectUnauthorized(res: ServerResponse): void {
  const description = 'Missing or invalid bearer token';
  res
    .writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': `Bearer error="invalid_token", error_description="${description}"`,
    })
    .end(JSON.stringify({ error: 'invalid_token', error_description: description }));
}

/** Reads and parses a JSON body; a SyntaxError is returned, not thrown, so the caller can answer -32700. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    return error instanceof SyntaxError ? error : new SyntaxError(String(error));
  }
}

export function sendJson(res: ServerResponse, { status, body }: JsonRpcErrorAnswer): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function answerInternalError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy(error instanceof Error ? error : undefined);
    return;
  }
  sendJson(res, { status: 500, body: jsonRpcError(-32603, `Internal error: ${String(error)}`) });
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function requestPath(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://localhost').pathname;
}

export async function sleepIfPositive(ms: number | undefined): Promise<void> {
  if (ms !== undefined && ms > 0) await sleep(ms);
}

/** Listens on 127.0.0.1 with a free port chosen by the OS. */
export function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops listening and cuts open connections (SSE streams would otherwise keep `close` waiting forever). */
export function closeHttpServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
