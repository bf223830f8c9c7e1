// Browser access to the dashboard behind the admin token. Scripts send
// `Authorization: Bearer <token>`; a browser cannot, so it signs in once, either by
// opening `/?token=<token>` or through the form at `/login`, and gets an HttpOnly,
// SameSite=Strict cookie. The cookie holds an HMAC of the token, not the token, so a
// leaked cookie jar does not leak the credential used by scripts. The same cookie is
// accepted by the admin API (src/api/auth.ts can call `adminCookieMatches`), which the
// page's probe form and live progress need.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { mountOf, underMount } from './mount.js';

export const ADMIN_COOKIE = 'mcpprobe_admin';
const COOKIE_MAX_AGE_SECONDS = 7 * 86_400;

/** The cookie value for a token: stable per token, useless as a bearer token. */
export function adminCookieValue(token: string): string {
  return createHmac('sha256', token).update('mcp-session-probe dashboard cookie v1').digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** True when a `Cookie` header carries the dashboard cookie for this token. */
export function adminCookieMatches(cookieHeader: string | undefined | null, token: string): boolean {
  if (!cookieHeader) return false;
  for (const part of cookieHeader.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === ADMIN_COOKIE && safeEqual(rest.join('='), adminCookieValue(token))) return true;
  }
  return false;
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match !== null && safeEqual(match[1]!.trim(), token);
}

export function isSignedIn(c: Context, token: string | undefined): boolean {
  if (!token) return true;
  if (bearerMatches(c.req.header('authorization'), token)) return true;
  const cookie = getCookie(c, ADMIN_COOKIE);
  return cookie !== undefined && safeEqual(cookie, adminCookieValue(token));
}

export function signIn(c: Context, token: string): void {
  setCookie(c, ADMIN_COOKIE, adminCookieValue(token), {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    maxAge: COOKIE_MAX_AGE_SECONDS,
    secure: new URL(c.req.url).protocol === 'https:',
  });
}

/**
 * Only same-site paths (inside the mount), so `/login?next=` cannot bounce a signed-in browser
 * elsewhere.
 */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) ? next : '/';
}

/**
 * Guards dashboard pages. With no token configured everything passes (src/api/auth.ts
 * decides who may reach an unprotected admin surface). `?token=` that matches signs the
 * browser in and redirects to the same page without the token, so it does not linger in
 * the address bar or history; anything else is sent to the login form.
 */
export function dashboardAccess(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!token) return next();
    const url = new URL(c.req.url);
    const mount = mountOf(c);
    // `next` is a path inside the mount; the login page puts the mount back.
    const here = () => `${url.pathname.slice(mount.length) || '/'}${url.search}`;
    const offered = url.searchParams.get('token');
    if (offered !== null) {
      url.searchParams.delete('token');
      if (safeEqual(offered, token)) {
        signIn(c, token);
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      return c.redirect(`${underMount(mount, '/login')}?failed=1&next=${encodeURIComponent(here())}`, 303);
    }
    if (isSignedIn(c, token)) return next();
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return c.text('admin token required', 401);
    return c.redirect(`${underMount(mount, '/login')}?next=${encodeURIComponent(here())}`, 303);
  };
}
