import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyUpstreamResult, type ProbeResult } from '../../probe/result.js';
import type { ExchangeRecord } from '../../sessions/types.js';
import { openStore } from '../../store/index.js';
import type { ObservationStore } from '../../store/types.js';
import { ADMIN_COOKIE, adminCookieValue } from './access.js';
import { dashboard, type ProbeFormInput } from './index.js';

const TOKEN = 'unit-test-admin-token';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
let dir: string;
let store: ObservationStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dashboard-test-'));
  store = await openStore(`sqlite:${join(dir, 'probe.db')}`);
  await store.migrate();
  await store.upsertUpstreams([
    {
      id: 'linear',
      name: '<script>alert(1)</script> Linear',
      url: 'https://mcp.example/mcp',
      transport: 'streamable-http',
      stateless: null,
      validatesSessionIds: null,
    },
  ]);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function exchange(
  gapSeconds: number,
  outcome: 'ok' | 'session_expired',
  streamAttached = false,
): ExchangeRecord {
  const startedAt = NOW - 60_000;
  return {
    upstream: 'linear',
    source: 'proxy',
    probeRunId: null,
    transport: 'streamable-http',
    sessionHash: `s${gapSeconds}${outcome}`.padEnd(16, '0').slice(0, 16),
    httpMethod: 'POST',
    rpcMethod: 'tools/list',
    rpcCount: 1,
    toolName: null,
    rpcId: '2',
    startedAt,
    headersAt: startedAt + 10,
    responseAt: startedAt + 20,
    endedAt: startedAt + 20,
    httpStatus: outcome === 'ok' ? 200 : 404,
    outcome,
    confidence: outcome === 'ok' ? null : 'spec',
    idleGapMs: gapSeconds * 1000,
    sessionAgeMs: gapSeconds * 1000 + 500,
    streamAttached,
    exchangesBefore: 2,
    protocolVersion: '2025-06-18',
    era: '2025',
    upstreamVersions: null,
    callerHash: 'c1',
    rpcErrorCode: null,
    errorMessage: null,
    healed: false,
    healLatencyMs: null,
  };
}

const app = (extra: Partial<Parameters<typeof dashboard>[0]> = {}) =>
  dashboard({ store, adminToken: TOKEN, now: () => NOW, ...extra });
const signedIn = { cookie: `${ADMIN_COOKIE}=${adminCookieValue(TOKEN)}` };

describe('dashboard access behind admin.token', () => {
  it('sends a browser without credentials to the sign-in form, keeping where it was going', async () => {
    const res = await app().request('/upstreams/linear?x=1');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login?next=%2Fupstreams%2Flinear%3Fx%3D1');
    expect(await (await app().request('/login?next=/upstreams/linear')).text()).toContain('name="token"');
  });

  it('turns a matching ?token= into an HttpOnly SameSite=Strict cookie holding an HMAC, and strips it from the address', async () => {
    const res = await app().request(`/upstreams/linear?token=${TOKEN}&x=1`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/upstreams/linear?x=1');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`${ADMIN_COOKIE}=${adminCookieValue(TOKEN)}`);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).not.toContain(TOKEN);
    const wrong = await app().request('/?token=nope');
    expect(wrong.headers.get('location')).toBe('/login?failed=1&next=%2F');
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('accepts the cookie or the bearer header, and the login form only with the right token', async () => {
    expect((await app().request('/', { headers: signedIn })).status).toBe(200);
    expect((await app().request('/', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await app().request('/', { headers: { cookie: `${ADMIN_COOKIE}=${TOKEN}` } })).status).toBe(303);
    const form = (token: string, next: string) =>
      app().request('/login', { method: 'POST', body: new URLSearchParams({ token, next }) });
    expect((await form('wrong', '/')).status).toBe(401);
    const ok = await form(TOKEN, '/upstreams/linear');
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/upstreams/linear');
    expect(ok.headers.get('set-cookie')).toContain(adminCookieValue(TOKEN));
    // An off-site `next` would turn the login form into an open redirect.
    expect((await form(TOKEN, '//evil.example/')).headers.get('location')).toBe('/');
  });
});

describe('dashboard pages', () => {
  it('escapes upstream names and shows the overview row', async () => {
    const html = await (await app().request('/', { headers: signedIn })).text();
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Linear');
    expect(html).toContain('data-upstream="linear"');
    expect(html).toContain('not measured yet');
  });

  it('draws every survival and expiry, and shades each band with its own window', async () => {
    await store.write(
      [
        exchange(1, 'ok'),
        exchange(2, 'ok'),
        exchange(5, 'session_expired'),
        exchange(7, 'session_expired'),
        exchange(3, 'ok', true),
        exchange(30, 'ok', true),
      ].map((e) => ({ type: 'exchange' as const, exchange: e })),
    );
    const html = await (await app().request('/upstreams/linear', { headers: signedIn })).text();
    expect(html).toContain('data-points="6"');
    expect(html.match(/class="pt survived"/g)).toHaveLength(4);
    expect(html.match(/class="pt expired"/g)?.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain('data-lower="2" data-upper="5"');
    expect(html).toContain('data-lower="30" data-upper=""');
    expect(html).toContain('<title id="survival-title-linear">');
    expect(html).toContain('(2 s, 5 s]');
  });

  it('falls back to the plain idle window when the analysis has no answer', async () => {
    await store.write(
      [
        exchange(1, 'ok'),
        exchange(4, 'ok'),
        exchange(6, 'session_expired'),
        exchange(9, 'session_expired'),
        { ...exchange(9, 'session_expired'), idleGapMs: null },
      ].map((e) => ({ type: 'exchange' as const, exchange: e })),
    );
    const a = app({ analysis: { upstream: async () => null } });
    const html = await (await a.request('/upstreams/linear', { headers: signedIn })).text();
    expect(html).toContain('data-lower="4" data-upper="6"');
    expect(html).toContain('needs analysis');
    const overview = await (await a.request('/', { headers: signedIn })).text();
    expect(overview).toContain('(4 s, 6 s]');
    // Two sessions expired; the third 404, on an already-dead session, is not another expiry.
    expect(overview).toMatch(/<td class="num">2<\/td><\/tr>/);
  });

  it('renders an upstream without any traffic with every section in its empty state', async () => {
    const res = await app().request('/upstreams/linear', { headers: signedIn });
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const text of [
      'data-points="0"',
      'no observations',
      'no initialize observed yet',
      'no sessions yet',
      'No session has expired yet.',
      'No probe has run against this upstream yet.',
      'name="intervals"',
    ]) {
      expect(html).toContain(text);
    }
    // The form starts a search unless a person picks another mode.
    expect(html).toMatch(/<option value="search" selected[^>]*>/);
  });

  it('shows a search run by the window it found', async () => {
    await store.saveProbeRun({
      id: 'run-search',
      status: 'done',
      mode: 'search',
      upstreams: ['linear'],
      startedAt: NOW - 60_000,
      finishedAt: NOW - 10_000,
      heartbeatAt: NOW - 10_000,
      result: {
        results: [
          {
            upstream: 'linear',
            checkpoints: [{ success: true }, { success: false }],
            search: {
              window: { lowerSeconds: 12.6, upperSeconds: 13.5 },
              phase: 'done',
              stopReason: 'pinned',
            },
          },
        ],
      },
    });
    const html = await (await app().request('/upstreams/linear', { headers: signedIn })).text();
    expect(html).toContain('window (12.6s, 13.5s], pinned');
    expect(html).not.toContain('checkpoints alive');
  });

  it('answers 404 with the unknown id for an unknown upstream', async () => {
    const res = await app().request('/upstreams/nope', { headers: signedIn });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('<code>nope</code>');
  });
});

describe('the probe form without JavaScript', () => {
  const submit = (a: ReturnType<typeof app>, fields: Record<string, string>) =>
    a.request('/probes', { method: 'POST', headers: signedIn, body: new URLSearchParams(fields) });

  it('starts the probe and returns to the upstream page naming the run', async () => {
    const started: ProbeFormInput[] = [];
    const a = app({
      startProbe: async (input) => {
        started.push(input);
        return { id: 'run-42' };
      },
    });
    const res = await submit(a, { upstream: 'linear', mode: 'fanout', intervals: '5, 30 60' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/upstreams/linear?probe=run-42#probes');
    expect(started).toEqual([{ upstream: 'linear', mode: 'fanout', intervals: [5, 30, 60] }]);
    expect(await (await a.request('/upstreams/linear?probe=run-42', { headers: signedIn })).text()).toContain(
      'Probe <a href="/probes/run-42"><code>run-42</code></a> started',
    );
  });

  it('names the bad field, and says when no prober is wired', async () => {
    const bad = await submit(app({ startProbe: async () => ({ id: 'x' }) }), {
      upstream: 'linear',
      mode: 'fanout',
      intervals: '5, soon',
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe(
      'probe form: intervals "soon" is not an idle gap; write seconds or durations such as 5, 30s, 10m, 6h',
    );
    const none = await submit(app(), { upstream: 'linear', mode: 'ladder' });
    expect(none.status).toBe(501);
    const unsigned = await app().request('/probes', {
      method: 'POST',
      body: new URLSearchParams({ upstream: 'linear' }),
    });
    expect(unsigned.status).toBe(401);
  });
});

describe('a probe run as a page', () => {
  const checkpoint = (idle: number, success: boolean) => ({
    idleSecondsTarget: idle,
    elapsedSinceOpenSeconds: idle + 0.1,
    elapsedSinceLastCallSeconds: idle,
    success,
    latencySeconds: success ? 0.02 : 0.01,
    toolsReturned: success ? 3 : null,
    errorType: success ? null : ('session_expired' as const),
    errorMessage: null,
    httpStatus: success ? 200 : 404,
    streamAttached: false,
    failedAt: success ? null : ('checkpoint' as const),
    round: 0,
  });
  const result: ProbeResult = {
    id: 'run-7',
    status: 'done',
    startedAt: new Date(NOW - 120_000).toISOString(),
    elapsedSeconds: 31.5,
    mode: 'fanout',
    intervals: [5, 30],
    options: {
      holdStream: false,
      keepaliveSeconds: null,
      timeoutSeconds: null,
      budget: 16,
      minWindowSeconds: 1,
    },
    results: [
      {
        ...emptyUpstreamResult('linear', false),
        initLatencySeconds: 0.042,
        checkpoints: [checkpoint(5, true), checkpoint(30, false)],
        window: { lowerSeconds: 5, upperSeconds: 30, overlapping: false, survivals: 1, expirations: 1 },
        sessionModel: 'both',
        sessionless: {
          supported: true,
          protocolVersion: '2026-07-28',
          supportedVersions: ['2026-07-28', '2025-06-18'],
          discoverLatencySeconds: 0.01,
          callLatencySeconds: 0.012,
          toolsReturned: 3,
          refusal: null,
        },
      },
    ],
    fatalError: null,
  };

  it('shows the window, each session’s outcome in words, and links to the JSON', async () => {
    await store.saveProbeRun({
      id: 'run-7',
      status: 'done',
      mode: 'fanout',
      upstreams: ['linear'],
      startedAt: NOW - 120_000,
      finishedAt: NOW - 88_500,
      heartbeatAt: NOW - 88_500,
      result,
    });
    const res = await app().request('/probes/run-7', { headers: signedIn });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<div class="value" data-window="true">(5 s, 30 s]</div>');
    expect(html).toContain('fanout, idle gaps 5 s, 30 s');
    expect(html).toContain('Also serves sessionless requests (MCP 2026-07-28): a call costs 0.012 s');
    expect(html.match(/data-outcome="alive"/g)).toHaveLength(1);
    expect(html.match(/data-outcome="session_expired"/g)).toHaveLength(1);
    expect(html).toMatch(/<td>expired<\/td>/);
    expect(html).toContain('href="/api/probes/run-7"');
    expect(html).toContain('href="/upstreams/linear"');
    // The upstream's runs table links here, and to the JSON.
    const upstream = await (await app().request('/upstreams/linear', { headers: signedIn })).text();
    expect(upstream).toContain('<a href="/probes/run-7">run-7</a>');
    const missing = await app().request('/probes/nope', { headers: signedIn });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('<code>nope</code>');
  });
});

describe('the dashboard mounted under a prefix', () => {
  it('keeps every link, form, redirect and the scripts’ base under /gateway', async () => {
    const host = new Hono();
    host.route('/gateway', app());
    const html = await (await host.request('/gateway/upstreams/linear', { headers: signedIn })).text();
    expect(html).toContain('data-base="/gateway"');
    const targets = [...html.matchAll(/(?:href|action)="(\/[^"]*)"/g)].map((m) => m[1]!);
    expect(targets.length).toBeGreaterThan(4);
    expect(targets.filter((t) => !t.startsWith('/gateway'))).toEqual([]);
    expect(targets).toContain('/gateway');
    // Not signed in: to the login page under the prefix, and back to the page after it.
    const away = await host.request('/gateway/upstreams/linear', { headers: { accept: 'text/html' } });
    expect(away.headers.get('location')).toBe('/gateway/login?next=%2Fupstreams%2Flinear');
    const login = await host.request('/gateway/login', {
      method: 'POST',
      body: new URLSearchParams({ token: TOKEN, next: '/upstreams/linear' }),
    });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/gateway/upstreams/linear');
    expect((await host.request('/gateway', { headers: signedIn })).status).toBe(200);
  });

  it('a mount with a path parameter takes its prefix from the request', async () => {
    const host = new Hono();
    host.route('/:tenant', app());
    const html = await (await host.request('/acme/upstreams/linear', { headers: signedIn })).text();
    expect(html).toContain('data-base="/acme"');
    expect(html).toContain('<a href="/acme">All upstreams</a>');
  });
});
