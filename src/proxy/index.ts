import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { type Context, Hono } from 'hono';
import { PROXY_ERROR, sendJsonRpcError } from './errors.js';
import { type ForwardContext, forwardStreamableHttp } from './streamableHttp.js';
import type { ResolvedUpstream, UpstreamRegistry } from './upstreams.js';

export type { ForwardContext } from './streamableHttp.js';
export { createUpstreamRegistry, type UpstreamRegistry, type UpstreamTarget } from './upstreams.js';

/** The legacy HTTP+SSE forwarder (`legacySse.ts`). */
export interface LegacySseHandlers {
  /**
   * `GET /sse/:upstream`. `mountPrefix` is the path the proxy is mounted under in a host app
   * ('' at the root): the rewritten `endpoint` event must point the client back through it.
   */
  stream(
    req: IncomingMessage,
    res: ServerResponse,
    upstreamId: string,
    query: string,
    mountPrefix: string,
  ): void;
  message(req: IncomingMessage, res: ServerResponse, upstreamId: string, query: string): void;
}

export interface ProxyOptions {
  registry: UpstreamRegistry;
  context: ForwardContext;
  legacy?: LegacySseHandlers;
}

type ProxyEnv = { Bindings: HttpBindings };

const ALLOWED_MCP_METHODS = 'GET, POST, DELETE';

/**
 * The proxy routes as a Hono app: `POST|GET|DELETE /mcp/:upstream`, `GET /sse/:upstream`,
 * `POST /messages/:upstream`. They run on `@hono/node-server` and forward from its Node request
 * and response (`c.env.incoming`/`outgoing`): bodies stream through without Web `Request` and
 * `Response` objects, and the answer is written to the socket as it arrives. Mountable anywhere
 * (`host.route('/gateway', proxyRoutes(...))`).
 */
export function proxyRoutes({ registry, context, legacy }: ProxyOptions): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>();

  /** The upstream named in the path, or null after answering 404 (or 501 off Node) itself. */
  const resolve = (c: Context<ProxyEnv>): ResolvedUpstream | null => {
    const { incoming, outgoing } = c.env ?? {};
    if (incoming === undefined || outgoing === undefined) return null;
    const id = c.req.param('upstream') ?? '';
    const upstream = registry.get(id);
    if (upstream !== undefined) return upstream;
    const known = registry.ids();
    sendJsonRpcError(
      outgoing,
      404,
      PROXY_ERROR.unknownUpstream,
      `mcp-session-probe: unknown upstream "${id.slice(0, 64)}"; configured: ${known.length ? known.join(', ') : '(none)'}`,
    );
    incoming.resume();
    return null;
  };
  const notOnNode = (c: Context<ProxyEnv>) =>
    c.json(
      {
        jsonrpc: '2.0',
        error: {
          code: PROXY_ERROR.badRequest,
          message: 'mcp-session-probe: the proxy routes run on @hono/node-server (serve the app with it)',
        },
        id: null,
      },
      501,
    );

  app.on(['POST', 'GET', 'DELETE'], '/mcp/:upstream', (c) => {
    const upstream = resolve(c);
    if (upstream === null) return c.env?.outgoing ? RESPONSE_ALREADY_SENT : notOnNode(c);
    const { incoming, outgoing } = c.env;
    forwardMcp(incoming, outgoing, upstream, context);
    return RESPONSE_ALREADY_SENT;
  });
  app.all('/mcp/:upstream', (c) => {
    const outgoing = c.env?.outgoing;
    if (!outgoing) return notOnNode(c);
    sendJsonRpcError(
      outgoing,
      405,
      PROXY_ERROR.badRequest,
      `mcp-session-probe: method ${c.req.method} not allowed`,
      null,
      { allow: ALLOWED_MCP_METHODS },
    );
    c.env.incoming.resume();
    return RESPONSE_ALREADY_SENT;
  });

  const legacyRoute = (kind: 'sse' | 'messages') => (c: Context<ProxyEnv>) => {
    const upstream = resolve(c);
    if (upstream === null) return c.env?.outgoing ? RESPONSE_ALREADY_SENT : notOnNode(c);
    const { incoming, outgoing } = c.env;
    if (!legacy) {
      sendJsonRpcError(
        outgoing,
        404,
        PROXY_ERROR.badRequest,
        'mcp-session-probe: legacy HTTP+SSE is not enabled',
      );
      incoming.resume();
    } else if (kind === 'sse')
      legacy.stream(incoming, outgoing, upstream.id, queryOf(incoming.url), mountPrefixOf(c.req.path));
    else legacy.message(incoming, outgoing, upstream.id, queryOf(incoming.url));
    return RESPONSE_ALREADY_SENT;
  };
  app.get('/sse/:upstream', legacyRoute('sse'));
  app.post('/messages/:upstream', legacyRoute('messages'));
  return app;
}

function forwardMcp(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  upstream: ResolvedUpstream,
  context: ForwardContext,
): void {
  forwardStreamableHttp(incoming, outgoing, upstream, queryOf(incoming.url), context).catch((err) =>
    answerProxyFailure(outgoing, upstream, context, err),
  );
}

/** `/mcp/<id>` or `/mcp/<id>?query` with a plain id: the only targets the direct route takes. */
const PLAIN_MCP_TARGET = /^\/mcp\/([A-Za-z0-9._~-]+)(?:\?|$)/;

/**
 * The `POST|GET|DELETE /mcp/:upstream` route of `proxyRoutes`, for a `node:http` server that
 * serves the whole app at its root (`serve`): a request whose target names a configured upstream
 * plainly is forwarded at once, the same way the Hono route forwards it, without building the
 * per-request objects of Hono's dispatch (about 6 µs a request, docs/decisions/0011). Everything
 * else (other routes, other methods, an unknown or encoded id) returns false and goes to the app,
 * which answers it as before. Nothing about HTTP is parsed here: `node:http` did that.
 */
export function directMcpRoute({
  registry,
  context,
}: Pick<ProxyOptions, 'registry' | 'context'>): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const method = req.method;
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') return false;
    const match = PLAIN_MCP_TARGET.exec(req.url ?? '');
    if (match === null) return false;
    const upstream = registry.get(match[1]!);
    if (upstream === undefined) return false;
    forwardMcp(req, res, upstream, context);
    return true;
  };
}

/** A bug in the forwarding itself: logged, and a 502 if the answer has not begun (else the stream breaks). */
function answerProxyFailure(
  res: ServerResponse,
  upstream: ResolvedUpstream,
  context: ForwardContext,
  err: unknown,
): void {
  context.logger.error('proxy failure', { upstream: upstream.id, err });
  if (!res.headersSent)
    sendJsonRpcError(res, 502, PROXY_ERROR.upstreamUnreachable, 'mcp-session-probe: proxy failure');
  else res.destroy();
}

/** The query string of a request target, without `?`, or ''. */
export function queryOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

/** `/gateway/sse/<id>` → `/gateway`; `/sse/<id>` → ''. */
export function mountPrefixOf(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const withoutId = trimmed.slice(0, trimmed.lastIndexOf('/'));
  return withoutId.endsWith('/sse') ? withoutId.slice(0, -'/sse'.length) : '';
}
