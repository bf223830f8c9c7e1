import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Context, MiddlewareHandler } from 'hono';
import { adminCookieMatches } from './dashboard/access.js';

export interface AdminAuthOptions {
  /** `admin.token`; undefined or empty means loopback clients only. */
  token?: string | undefined;
  /** The configured `server.host`; accepted in the Host header besides the loopback names. */
  host?: string;
  /** More Host names to accept (e.g. the name a reverse proxy forwards). */
  allowedHosts?: readonly string[];
  /** Paths that stay open to everyone (liveness). Default `/healthz`. */
  openPaths?: readonly string[];
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string | undefined | null): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** `Host` header value without its port, lower-cased; IPv6 literals keep their brackets. */
export function hostName(hostHeader: string | undefined | null): string | null {
  if (!hostHeader) return null;
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    return close < 0 ? null : h.slice(0, close + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time equality that does not leak the length either (both sides hashed first). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Scripts' paths: never redirected to a login page, never signed in through `?token=`. */
function isMachinePath(path: string): boolean {
  return path === '/metrics' || path === '/api' || path.startsWith('/api/');
}

function deny(c: Context, status: 401 | 403, message: string): Response {
  const res = c.json({ error: message }, status);
  if (status === 401) res.headers.set('www-authenticate', 'Bearer realm="mcp-session-probe"');
  return res;
}

/**
 * Guards the admin API, the dashboard and /metrics (everything Hono serves; the proxy
 * routes run before Hono and are never behind it, since agents bring their own upstream
 * credentials).
 *
 * - With `admin.token`: `Authorization: Bearer <token>` (constant-time), or the dashboard's
 *   HttpOnly SameSite=Strict cookie (src/api/dashboard/access.ts: a browser signs in once via
 *   `/?token=<token>` or the `/login` form; the cookie holds an HMAC of the token). Without
 *   either, `/api/*` and `/metrics` answer 401, and browser pages are sent to `/login`.
 * - Without a token: loopback clients only (the socket's address, not a header), so binding
 *   to 0.0.0.0 without a token exposes nothing; and the Host header must name this machine
 *   by a loopback name or the configured host, which defeats DNS rebinding (a rebound page
 *   sends its own host name).
 * - Always: a cross-origin `Origin` on a state-changing request is refused (CSRF).
 */
export function adminAuth(opts: AdminAuthOptions = {}): MiddlewareHandler {
  const token = opts.token ? opts.token : undefined;
  const openPaths = new Set(opts.openPaths ?? ['/healthz']);
  const allowedHosts = new Set(LOOPBACK_HOSTS);
  const configured = opts.host?.toLowerCase();
  if (configured && !WILDCARD_HOSTS.has(configured)) {
    allowedHosts.add(
      configured.includes(':') && !configured.startsWith('[') ? `[${configured}]` : configured,
    );
  }
  for (const h of opts.allowedHosts ?? []) allowedHosts.add(h.toLowerCase());

  return async (c, next) => {
    // Mounted in a host app (`host.route('/gateway', app)`), this middleware's route is
    // `/gateway/*`: its paths are judged without the mount prefix, and its redirects keep it.
    const mount = c.req.routePath.endsWith('/*') ? c.req.routePath.slice(0, -2) : '';
    const path = mount && c.req.path.startsWith(mount) ? c.req.path.slice(mount.length) || '/' : c.req.path;
    if (openPaths.has(path)) return next();

    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') {
      const origin = c.req.header('origin');
      if (origin !== undefined && !sameOrigin(origin, c.req.header('host'))) {
        return deny(c, 403, `mcp-session-probe: cross-origin ${method} from ${origin.slice(0, 100)} refused`);
      }
    }

    if (token === undefined) {
      // The socket's address (never a forwarded header); undefined outside @hono/node-server.
      const address = (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket?.remoteAddress;
      if (!isLoopbackAddress(address)) {
        return deny(
          c,
          403,
          'mcp-session-probe: the admin API answers loopback clients only while admin.token is not set; set admin.token (e.g. from MCP_PROBE_ADMIN_TOKEN) to allow remote access',
        );
      }
      const host = hostName(c.req.header('host'));
      if (host === null || !allowedHosts.has(host)) {
        return deny(
          c,
          403,
          `mcp-session-probe: Host "${(c.req.header('host') ?? '').slice(0, 100)}" is not this server; use http://127.0.0.1 or http://localhost (DNS rebinding protection)`,
        );
      }
      return next();
    }

    const auth = c.req.header('authorization');
    if (auth !== undefined) {
      const m = /^Bearer[ \t]+(.+)$/i.exec(auth.trim());
      if (m && sameSecret(m[1]!, token)) return next();
      return deny(c, 401, 'mcp-session-probe: invalid admin token');
    }

    if (adminCookieMatches(c.req.header('cookie'), token)) return next();
    // The dashboard's own sign-in: its login form, and a matching `?token=` link, which the
    // dashboard turns into the cookie and strips from the address bar.
    if (path === '/login') return next();
    const offered = method === 'GET' && !isMachinePath(path) ? c.req.query('token') : undefined;
    if (offered !== undefined) {
      if (sameSecret(offered, token)) return next();
      return c.redirect(`${mount}/login?failed=1&next=${encodeURIComponent(path)}`, 303);
    }
    if (method === 'GET' && !isMachinePath(path) && (c.req.header('accept') ?? '').includes('text/html')) {
      return c.redirect(`${mount}/login?next=${encodeURIComponent(path)}`, 303);
    }
    return deny(
      c,
      401,
      'mcp-session-probe: admin token required: send "Authorization: Bearer <admin.token>", or open /?token=<admin.token> once in a browser',
    );
  };
}

/** The Origin's host:port equals the Host header (both lower-cased). */
function sameOrigin(origin: string, hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  try {
    return new URL(origin).host.toLowerCase() === hostHeader.trim().toLowerCase();
  } catch {
    return false;
  }
}
