import { Pool } from 'undici';
import { H1Pool } from './h1client.js';

/** What the proxy needs to know of a configured upstream. */
export interface UpstreamTarget {
  id: string;
  url: string;
  transport?: string;
  timeoutSeconds?: number;
}

/** A configured upstream resolved once at start: no per-request URL parsing. */
export interface ResolvedUpstream {
  id: string;
  origin: string;
  /** Path of the upstream URL (e.g. `/mcp`). */
  path: string;
  /** Query string of the upstream URL without `?`, or ''. */
  query: string;
  /** Host header value for the upstream. */
  host: string;
  timeoutMs: number;
  transport: string;
  /** Streamable HTTP forwarding (the proxy's own HTTP/1.1 client, `h1client.ts`). */
  h1: H1Pool;
  /** Legacy SSE forwarding (undici). */
  pool: Pool;
}

export interface UpstreamRegistry {
  get(id: string): ResolvedUpstream | undefined;
  ids(): string[];
  close(): Promise<void>;
}

const MAX_CONNECTIONS = 256;
/** Idle keep-alive without a server hint, and the most a hint may ask for. */
const KEEP_ALIVE_MS = 30_000;
const KEEP_ALIVE_MAX_MS = 600_000;

export function createUpstreamRegistry(targets: readonly UpstreamTarget[]): UpstreamRegistry {
  const byId = new Map<string, ResolvedUpstream>();
  // One keep-alive client per origin, shared by upstreams on the same host: the proxy's own for
  // Streamable HTTP, undici's for legacy SSE, with the same connection limits.
  const clients = new Map<string, { h1: H1Pool; pool: Pool }>();
  for (const t of targets) {
    const url = new URL(t.url);
    let client = clients.get(url.origin);
    if (!client) {
      client = {
        h1: new H1Pool(url.origin, {
          maxConnections: MAX_CONNECTIONS,
          keepAliveTimeoutMs: KEEP_ALIVE_MS,
          keepAliveMaxTimeoutMs: KEEP_ALIVE_MAX_MS,
        }),
        pool: new Pool(url.origin, {
          connections: MAX_CONNECTIONS,
          pipelining: 1,
          keepAliveTimeout: KEEP_ALIVE_MS,
          keepAliveMaxTimeout: KEEP_ALIVE_MAX_MS,
        }),
      };
      clients.set(url.origin, client);
    }
    byId.set(t.id, {
      id: t.id,
      origin: url.origin,
      path: url.pathname,
      query: url.search.slice(1),
      host: url.host,
      timeoutMs: (t.timeoutSeconds ?? 60) * 1000,
      transport: t.transport ?? 'streamable-http',
      h1: client.h1,
      pool: client.pool,
    });
  }
  return {
    get: (id) => byId.get(id),
    ids: () => [...byId.keys()],
    close: async () => {
      // Everything in flight has finished or been aborted by now; do not wait on stragglers.
      await Promise.all(
        [...clients.values()].flatMap((c) => [c.h1.destroy(), c.pool.destroy().catch(() => undefined)]),
      );
    },
  };
}

/** The upstream path plus the client's query string appended to the upstream's own. */
export function upstreamPathFor(upstream: ResolvedUpstream, clientQuery: string): string {
  if (!clientQuery) return upstream.query ? `${upstream.path}?${upstream.query}` : upstream.path;
  return upstream.query
    ? `${upstream.path}?${upstream.query}&${clientQuery}`
    : `${upstream.path}?${clientQuery}`;
}
