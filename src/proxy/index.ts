import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { PROXY_ERROR, sendJsonRpcError } from './errors.js';
import { type ClientResponse, FastFront } from './h1server.js';
import { type ForwardContext, forwardFastRequest, forwardStreamableHttp } from './streamableHttp.js';
import type { ResolvedUpstream, UpstreamRegistry } from './upstreams.js';

export type { ForwardContext } from './streamableHttp.js';
export { createUpstreamRegistry, type UpstreamRegistry, type UpstreamTarget } from './upstreams.js';

/** A legacy HTTP+SSE forwarder plugs in here (see the legacy transport issue). */
export interface LegacySseHandlers {
  stream(req: IncomingMessage, res: ServerResponse, upstreamId: string, query: string): void;
  message(req: IncomingMessage, res: ServerResponse, upstreamId: string, query: string): void;
}

export interface ProxyOptions {
  registry: UpstreamRegistry;
  context: ForwardContext;
  legacy?: LegacySseHandlers;
}

/** Node-level request handler for the proxy routes; returns false when the path is not a proxy route. */
export type ProxyHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const ALLOWED_MCP_METHODS = 'GET, POST, DELETE';

/**
 * The proxy as a plain `node:http` handler: `POST|GET|DELETE /mcp/:upstream`,
 * `GET /sse/:upstream`, `POST /messages/:upstream`. It runs before Hono's
 * Request/Response adaptor so the hot path never builds Web objects; the admin
 * API and dashboard stay ordinary Hono routes.
 */
export function createProxyHandler({ registry, context, legacy }: ProxyOptions): ProxyHandler {
  return (req, res) => {
    const url = req.url ?? '/';
    const route = matchRoute(url);
    if (route === null) return false;
    const upstream = registry.get(route.upstream);
    if (upstream === undefined) {
      const known = registry.ids();
      sendJsonRpcError(
        res,
        404,
        PROXY_ERROR.unknownUpstream,
        `mcp-session-probe: unknown upstream "${route.upstream.slice(0, 64)}"; configured: ${known.length ? known.join(', ') : '(none)'}`,
      );
      drain(req);
      return true;
    }
    if (route.kind === 'mcp') {
      const m = req.method;
      if (m !== 'POST' && m !== 'GET' && m !== 'DELETE') {
        sendJsonRpcError(
          res,
          405,
          PROXY_ERROR.badRequest,
          `mcp-session-probe: method ${m} not allowed`,
          null,
          {
            allow: ALLOWED_MCP_METHODS,
          },
        );
        drain(req);
        return true;
      }
      forwardStreamableHttp(req, res, upstream, route.query, context).catch((err) =>
        answerProxyFailure(res, upstream, context, err),
      );
      return true;
    }
    if (!legacy) {
      sendJsonRpcError(res, 404, PROXY_ERROR.badRequest, 'mcp-session-probe: legacy HTTP+SSE is not enabled');
      drain(req);
      return true;
    }
    if (route.kind === 'sse') legacy.stream(req, res, upstream.id, route.query);
    else legacy.message(req, res, upstream.id, route.query);
    return true;
  };
}

/** A bug in the forwarding itself: logged, and a 502 if the answer has not begun (else the stream breaks). */
function answerProxyFailure(
  res: ClientResponse,
  upstream: ResolvedUpstream,
  context: ForwardContext,
  err: unknown,
): void {
  context.logger.error('proxy failure', { upstream: upstream.id, err });
  if (!res.headersSent)
    sendJsonRpcError(res, 502, PROXY_ERROR.upstreamUnreachable, 'mcp-session-probe: proxy failure');
  else res.destroy();
}

interface FastRoute {
  upstream: ResolvedUpstream;
  query: string;
}

/**
 * Puts the fast front (`h1server.ts`) before `server`'s `node:http` handling: whole, plain
 * `POST|GET|DELETE /mcp/<known upstream>` requests are forwarded from there, without
 * IncomingMessage or ServerResponse; everything else (other routes, unknown upstreams, anything
 * unusual in a request) reaches the handler above through `node:http` as before.
 */
export function createFastProxyFront(
  server: Server,
  { registry, context }: ProxyOptions,
): FastFront<FastRoute> {
  return new FastFront<FastRoute>(server, {
    maxBodyBytes: context.maxBodyBytes,
    accept(_method, url) {
      const route = matchRoute(url);
      if (route === null || route.kind !== 'mcp') return null;
      const upstream = registry.get(route.upstream);
      return upstream === undefined ? null : { upstream, query: route.query };
    },
    handle({ upstream, query }, req, res) {
      try {
        forwardFastRequest(req, res, upstream, query, context);
      } catch (err) {
        answerProxyFailure(res, upstream, context, err);
      }
    },
    onError: (err) => context.logger.error('proxy failure', { err }),
  });
}

/** The same handler as a Hono route, for mounting in someone else's Hono app on @hono/node-server. */
export function proxyRoutes(options: ProxyOptions): Hono<{ Bindings: HttpBindings }> {
  const handle = createProxyHandler(options);
  const app = new Hono<{ Bindings: HttpBindings }>();
  const route = (c: { env: HttpBindings; notFound(): Response | Promise<Response> }) =>
    handle(c.env.incoming, c.env.outgoing) ? RESPONSE_ALREADY_SENT : c.notFound();
  app.all('/mcp/:upstream', route);
  app.get('/sse/:upstream', route);
  app.post('/messages/:upstream', route);
  return app;
}

interface Route {
  kind: 'mcp' | 'sse' | 'messages';
  upstream: string;
  query: string;
}

/** `/mcp/<id>[?q]`, `/sse/<id>[?q]`, `/messages/<id>[?q]` without regexes or URL objects. */
export function matchRoute(url: string): Route | null {
  let kind: Route['kind'];
  let start: number;
  if (url.startsWith('/mcp/')) {
    kind = 'mcp';
    start = 5;
  } else if (url.startsWith('/sse/')) {
    kind = 'sse';
    start = 5;
  } else if (url.startsWith('/messages/')) {
    kind = 'messages';
    start = 10;
  } else return null;
  const q = url.indexOf('?', start);
  let upstream = q < 0 ? url.slice(start) : url.slice(start, q);
  if (upstream.endsWith('/')) upstream = upstream.slice(0, -1);
  if (upstream.length === 0 || upstream.includes('/')) return null;
  try {
    upstream = decodeURIComponent(upstream);
  } catch {
    return null;
  }
  return { kind, upstream, query: q < 0 ? '' : url.slice(q + 1) };
}

function drain(req: IncomingMessage): void {
  req.resume();
}
