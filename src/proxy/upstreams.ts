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

export function createUpstreamRegistry(targets: readonly UpstreamTarget[]): UpstreamRegistry {
  const byId = new Map<string, ResolvedUpstream>();
  const pools = new Map<string, Pool>();
  const h1Pools = new Map<string, H1Pool>();
  for (const t of targets) {
    const url = new URL(t.url);
    // One keep-alive pool per origin, shared by upstreams on the same host.
    let pool = pools.get(url.origin);
    if (!pool) {
      pool = new Pool(url.origin, {
        connections: 256,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
      });
      pools.set(url.origin, pool);
    }
    let h1 = h1Pools.get(url.origin);
    if (!h1) {
      h1 = new H1Pool(url.origin, {
        maxConnections: 256,
        keepAliveTimeoutMs: 30_000,
        keepAliveMaxTimeoutMs: 600_000,
      });
      h1Pools.set(url.origin, h1);
    }
    byId.set(t.id, {
      id: t.id,
      origin: url.origin,
      path: url.pathname,
      query: url.search.slice(1),
      host: url.host,
      timeoutMs: (t.timeoutSeconds ?? 60) * 1000,
      transport: t.transport ?? 'streamable-http',
      h1,
      pool,
    });
  }
  return {
    get: (id) => byId.get(id),
    ids: () => [...byId.keys()],
    close: async () => {
      // Everything in flight has finished or been aborted by now; do not wait on stragglers.
      await Promise.all([
        ...[...pools.values()].map((p) => p.destroy().catch(() => undefined)),
        ...[...h1Pools.values()].map((p) => p.destroy()),
      ]);
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
