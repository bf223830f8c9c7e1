/**
 * A legacy HTTP+SSE (protocol 2024-11-05) MCP server on the SDK's `SSEServerTransport`:
 * `GET /sse` opens the stream and announces `/messages?sessionId=...`, the client POSTs there.
 * Here the session *is* the stream: when the stream ends, later POSTs for it are refused.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import {
  answerInternalError,
  closeHttpServer,
  createDemoMcpServer,
  createUpstreamStats,
  type DemoServerOptions,
  handleMcpHttpRequest,
  listenOnLoopback,
  requestPath,
  sleepIfPositive,
  type UpstreamStats,
} from './upstream.js';

export interface LegacySseUpstreamOptions extends DemoServerOptions {
  /** The server closes a stream that received no POST for this long; its sessionId is then unknown. */
  idleStreamCloseMs?: number;
  /**
   * How a POST for an unknown or closed session is answered: `'spec'` 404 `Session not found`
   * (default), or `'sdk-400'` 400 `No transport found for sessionId` as the SDK's SSE example does.
   */
  expiryStyle?: 'spec' | 'sdk-400';
  /** Delay before answering `initialize`. */
  initDelayMs?: number;
  /** Delay before handling every other POST. */
  latencyMs?: number;
  /** Expect `Authorization: Bearer <requireAuth>` on every request. */
  requireAuth?: string;
  /** Called with every JSON-RPC method received, and with `'GET'` for each stream opened. */
  onMethod?: (method: string) => void;
}

export interface LegacySseUpstream {
  /** `http://127.0.0.1:PORT/sse` */
  url: string;
  port: number;
  close(): Promise<void>;
  stats: UpstreamStats;
}

interface LegacySession {
  server: McpServer;
  transport: SSEServerTransport;
  idleTimer: NodeJS.Timeout | undefined;
}

const SSE_PATH = '/sse';
const MESSAGES_PATH = '/messages';

const UNKNOWN_SESSION_ANSWERS = {
  spec: { status: 404, text: 'Session not found' },
  'sdk-400': { status: 400, text: 'No transport found for sessionId' },
} as const;

export async function startLegacySseUpstream(
  options: LegacySseUpstreamOptions = {},
): Promise<LegacySseUpstream> {
  const { idleStreamCloseMs, expiryStyle = 'spec' } = options;
  const sessions = new Map<string, LegacySession>();
  const stats = createUpstreamStats(() => sessions.size);

  function forgetSession(sessionId: string): void {
    const session = sessions.get(sessionId);
    if (!session) return;
    sessions.delete(sessionId);
    clearTimeout(session.idleTimer);
    // Ends the SSE response, which is how a legacy client learns its session is gone.
    void session.server.close().catch(() => {});
  }

  /** (Re)starts the countdown after which a stream without POSTs is closed by the server. */
  function restartIdleCountdown(sessionId: string, session: LegacySession): void {
    if (idleStreamCloseMs === undefined) return;
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => forgetSession(sessionId), idleStreamCloseMs);
    session.idleTimer.unref();
  }

  async function openStream(res: ServerResponse): Promise<void> {
    const server = createDemoMcpServer(options);
    const transport = new SSEServerTransport(MESSAGES_PATH, res);
    const session: LegacySession = { server, transport, idleTimer: undefined };
    sessions.set(transport.sessionId, session);
    stats.sessionsCreated += 1;
    // A client hanging up ends the session too.
    server.server.onclose = () => forgetSession(transport.sessionId);
    restartIdleCountdown(transport.sessionId, session);
    await server.connect(transport);
  }

  async function deliverMessage(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const sessionId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('sessionId') ?? '';
    const session = sessions.get(sessionId);
    if (!session) {
      const { status, text } = UNKNOWN_SESSION_ANSWERS[expiryStyle];
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
      return;
    }
    restartIdleCountdown(sessionId, session);
    await sleepIfPositive(isInitializeRequest(body) ? options.initDelayMs : options.latencyMs);
    await session.transport.handlePostMessage(req, res, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const path = requestPath(req);
    if (path === SSE_PATH && req.method === 'GET') return openStream(res);
    if (path === MESSAGES_PATH && req.method === 'POST') return deliverMessage(req, res, body);
    res.writeHead(405, { 'content-type': 'text/plain' }).end('Method Not Allowed');
  }

  const httpServer = createServer((req, res) => {
    handleMcpHttpRequest(req, res, {
      paths: [SSE_PATH, MESSAGES_PATH],
      stats,
      requireAuth: options.requireAuth,
      onMethod: options.onMethod,
      handle,
    }).catch((error: unknown) => answerInternalError(res, error));
  });
  const port = await listenOnLoopback(httpServer);

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}${SSE_PATH}`,
    port,
    stats,
    // Idempotent, so a test may close early and an afterEach hook close again.
    close() {
      closing ??= (async () => {
        for (const sessionId of [...sessions.keys()]) forgetSession(sessionId);
        await closeHttpServer(httpServer);
      })();
      return closing;
    },
  };
}
