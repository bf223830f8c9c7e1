import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { adminAuth, hostName, isLoopbackAddress } from './auth.js';
import { ADMIN_COOKIE, adminCookieValue } from './dashboard/access.js';

const TOKEN = 'tok-3b9f2c7d1e';

/** A tiny app behind the middleware: one API route, metrics, a dashboard page, the login page, healthz. */
function appWith(opts: Parameters<typeof adminAuth>[0]) {
  const app = new Hono();
  app.use('*', adminAuth(opts));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/api/sessions', (c) => c.json([]));
  app.post('/api/probes', (c) => c.json({ id: 'p1' }, 202));
  app.get('/metrics', (c) => c.text('# metrics'));
  app.get('/', (c) => c.html('<h1>dashboard</h1>'));
  app.get('/login', (c) => c.html('<form></form>'));
  return app;
}

/** The node-server bindings the middleware reads the socket address from. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });
const req = (
  app: Hono,
  path: string,
  {
    address = '127.0.0.1',
    headers = {},
    method = 'GET',
  }: { address?: string; headers?: Record<string, string>; method?: string } = {},
) => app.request(path, { method, headers: { host: '127.0.0.1:8787', ...headers } }, from(address));

describe('adminAuth without a token: loopback clients only', () => {
  const app = appWith({ host: '0.0.0.0' });

  it.each(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])('answers %s', async (address) => {
    expect((await req(app, '/api/sessions', { address })).status).toBe(200);
    expect((await req(app, '/metrics', { address })).status).toBe(200);
    expect((await req(app, '/', { address })).status).toBe(200);
  });

  it.each([
    '10.0.0.5',
    '192.168.1.20',
    '::ffff:10.1.2.3',
    '2001:db8::1',
    '128.0.0.1',
  ])('refuses %s with 403 and says how to allow it', async (address) => {
    const res = await req(app, '/api/sessions', { address });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/loopback.*admin\.token/);
    expect((await req(app, '/metrics', { address })).status).toBe(403);
    expect((await req(app, '/', { address })).status).toBe(403);
  });

  it('refuses when the socket address is unknown (not served by @hono/node-server)', async () => {
    expect((await app.request('/api/sessions', { headers: { host: 'localhost' } })).status).toBe(403);
  });

  it('keeps /healthz open to everyone', async () => {
    expect(
      (await req(app, '/healthz', { address: '10.0.0.5', headers: { host: 'evil.example' } })).status,
    ).toBe(200);
  });

  it.each(['localhost:8787', '127.0.0.1', '[::1]:8787', 'LOCALHOST'])('accepts Host %s', async (host) => {
    expect((await req(app, '/api/sessions', { headers: { host } })).status).toBe(200);
  });

  it.each([
    'evil.example',
    'evil.example:8787',
    '127.0.0.1.nip.io',
    '0.0.0.0:8787',
    '',
  ])('refuses Host %j (DNS rebinding)', async (host) => {
    const res = await req(app, '/', { headers: { host } });
    expect(res.status).toBe(403);
  });

  it('accepts the configured host name', async () => {
    const named = appWith({ host: 'probe.internal' });
    expect((await req(named, '/api/sessions', { headers: { host: 'probe.internal:8787' } })).status).toBe(
      200,
    );
  });

  it('refuses a cross-origin state change even from loopback (CSRF)', async () => {
    const headers = { origin: 'https://evil.example' };
    expect((await req(app, '/api/probes', { method: 'POST', headers })).status).toBe(403);
    expect(
      (await req(app, '/api/probes', { method: 'POST', headers: { origin: 'http://127.0.0.1:8787' } }))
        .status,
    ).toBe(202);
    expect((await req(app, '/api/probes', { method: 'POST' })).status).toBe(202);
  });
});

describe('adminAuth with a token', () => {
  const app = appWith({ token: TOKEN, host: '0.0.0.0' });
  const remote = '203.0.113.7';

  it('requires the bearer token on the API and /metrics, from anywhere', async () => {
    for (const path of ['/api/sessions', '/metrics']) {
      const none = await req(app, path, { address: remote, headers: { host: 'probe.example.com' } });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(
        (await req(app, path, { address: remote, headers: { authorization: `Bearer ${TOKEN}x` } })).status,
      ).toBe(401);
      expect((await req(app, path, { address: remote, headers: { authorization: TOKEN } })).status).toBe(401);
      expect(
        (await req(app, path, { address: remote, headers: { authorization: `bearer ${TOKEN}` } })).status,
      ).toBe(200);
      // Loopback is no exemption once a token is set.
      expect((await req(app, path)).status).toBe(401);
    }
  });

  it('accepts the dashboard cookie, not a forged one', async () => {
    const good = `${ADMIN_COOKIE}=${adminCookieValue(TOKEN)}`;
    expect((await req(app, '/api/sessions', { address: remote, headers: { cookie: good } })).status).toBe(
      200,
    );
    expect((await req(app, '/', { address: remote, headers: { cookie: good } })).status).toBe(200);
    const forged = `${ADMIN_COOKIE}=${adminCookieValue('guess')}`;
    expect((await req(app, '/api/sessions', { address: remote, headers: { cookie: forged } })).status).toBe(
      401,
    );
    // The raw token in the cookie is not the cookie value either.
    expect(
      (await req(app, '/api/sessions', { headers: { cookie: `${ADMIN_COOKIE}=${TOKEN}` } })).status,
    ).toBe(401);
  });

  it('sends browsers to /login, lets a matching ?token= through to the dashboard, bounces a wrong one', async () => {
    const page = await req(app, '/', { address: remote, headers: { accept: 'text/html' } });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2F');
    expect((await req(app, '/login', { address: remote })).status).toBe(200);
    expect((await req(app, `/?token=${TOKEN}`, { address: remote })).status).toBe(200);
    const wrong = await req(app, '/?token=nope', { address: remote });
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get('location')).toMatch(/^\/login\?failed=1/);
    // ?token= is a browser convenience: the API never takes a token from the URL.
    expect((await req(app, `/api/sessions?token=${TOKEN}`, { address: remote })).status).toBe(401);
  });
});

describe('helpers', () => {
  it.each([
    ['127.0.0.1', true],
    ['::1', true],
    ['::ffff:127.0.0.2', true],
    ['10.0.0.1', false],
    ['::', false],
    ['0.0.0.0', false],
    ['127.0.0.1.evil', false],
    [undefined, false],
  ] as const)('isLoopbackAddress(%s) = %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });

  it.each([
    ['LocalHost:80', 'localhost'],
    ['[::1]:8787', '[::1]'],
    ['[::1', null],
    ['', null],
    ['a.b', 'a.b'],
  ] as const)('hostName(%j) = %j', (host, expected) => {
    expect(hostName(host)).toBe(expected);
  });
});
