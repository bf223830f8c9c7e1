import { Pool } from 'undici';
import { type Admission, createAdmission } from './admission.js';

/** What the proxy needs to know of a configured upstream. */
export interface UpstreamTarget {
  id: string;
  url: string;
  transport?: string;
  timeoutSeconds?: number;
  /** Requests in flight (queued or sent) beyond which the proxy answers 503 at once. */
  maxConcurrentRequests?: number;
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
  /** The whole wait for response headers, queueing for a connection included. */
  timeoutMs: number;
  transport: string;
  /** Request traffic (POST, DELETE, legacy POSTs): a keep-alive pool with a connection limit. */
  requests: Pool;
  /**
   * Long-lived GET streams (standalone Streamable HTTP streams, legacy SSE streams): a pool of
   * their own without a connection limit. Every SDK client holds one such stream per session
   * for as long as the session lives; in the request pool they would take every connection
   * and leave requests queued behind them.
   */
  streams: Pool;
  /** The circuit breaker for request traffic (`maxConcurrentRequests`). */
  admission: Admission;
}

export interface UpstreamRegistry {
  get(id: string): ResolvedUpstream | undefined;
  ids(): string[];
  /** Requests turned away at once with 503, by upstream (for /metrics). */
  rejections(): Iterable<{ upstream: string; count: number }>;
  close(): Promise<void>;
}

/** Connections per origin for request traffic. */
const MAX_REQUEST_CONNECTIONS = 256;
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 1024;
/** Idle keep-alive without a server hint, and the most a hint may ask for. */
const KEEP_ALIVE_MS = 30_000;
const KEEP_ALIVE_MAX_MS = 600_000;

export function createUpstreamRegistry(targets: readonly UpstreamTarget[]): UpstreamRegistry {
  const byId = new Map<string, ResolvedUpstream>();
  // One pair of keep-alive pools per origin, shared by upstreams on the same host.
  const pools = new Map<string, { requests: Pool; streams: Pool }>();
  for (const t of targets) {
    const url = new URL(t.url);
    let pair = pools.get(url.origin);
    if (!pair) {
      const common = {
        pipelining: 1,
        keepAliveTimeout: KEEP_ALIVE_MS,
        keepAliveMaxTimeout: KEEP_ALIVE_MAX_MS,
      };
      pair = {
        requests: new Pool(url.origin, { ...common, connections: MAX_REQUEST_CONNECTIONS }),
        streams: new Pool(url.origin, { ...common, connections: null }),
      };
      pools.set(url.origin, pair);
    }
    byId.set(t.id, {
      id: t.id,
      origin: url.origin,
      path: url.pathname,
      query: url.search.slice(1),
      host: url.host,
      timeoutMs: (t.timeoutSeconds ?? 60) * 1000,
      transport: t.transport ?? 'streamable-http',
      requests: pair.requests,
      streams: pair.streams,
      admission: createAdmission(t.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS),
    });
  }
  return {
    get: (id) => byId.get(id),
    ids: () => [...byId.keys()],
    *rejections() {
      for (const u of byId.values()) yield { upstream: u.id, count: u.admission.rejected };
    },
    close: async () => {
      // Everything in flight has finished or been aborted by now; do not wait on stragglers.
      await Promise.all(
        [...pools.values()].flatMap((p) => [
          p.requests.destroy().catch(() => undefined),
          p.streams.destroy().catch(() => undefined),
        ]),
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
