// The dashboard in a real browser (Debian's chromium driven by playwright-core; never a
// downloaded browser) against the real serve stack, fixture upstreams and real traffic.
// The full-page screenshot is kept at test-results/dashboard.png as a CI artifact.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dashboard } from '../src/api/dashboard/index.js';
import { createMcpSessionProbe } from '../src/index.js';
import type { ExchangeRecord, SessionRecord } from '../src/sessions/types.js';
import { openStore } from '../src/store/index.js';
import {
  initializeSession,
  openEventStream,
  postJsonRpc,
  toolsListMessage,
  upstreamPool,
} from './fixtures/upstreams.js';
import { launchChromium, skipBrowser } from './helpers/chromium.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const ADMIN_TOKEN = 'dashboard-test-token-7f3a';

const upstreams = upstreamPool();
const proxies: TestProxy[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
let browser: Browser;

beforeAll(async () => {
  if (!skipBrowser) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await Promise.all(proxies.splice(0).map((p) => p.cleanup()));
  await upstreams.closeAll();
});

/** Polls a locator's text until it matches (the estimate is fetched after typing settles). */
async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < until) {
    text = (await locator.textContent()) ?? '';
    if (pattern.test(text)) return;
    await sleep(100);
  }
  throw new Error(`expected ${pattern} within ${timeoutMs} ms; last text: ${text}`);
}

/** Console errors and uncaught page errors, collected for the whole page life. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/**
 * Passive traffic through the proxy: sessions that survive short idle gaps and expire after
 * long ones (idle timeout 1 s; gaps far from it so a loaded CI machine cannot blur them),
 * and one that idles with a GET stream open.
 */
async function generateTraffic(p: TestProxy, upstream: string): Promise<void> {
  const url = p.mcpUrl(upstream);
  const plans = [
    { gaps: [50, 150, 200, 1800] },
    { gaps: [100, 200, 2000] },
    { gaps: [120, 2200] },
    { gaps: [80, 200], stream: true },
  ];
  // Sessions open one after another (the demo upstream has lost sessions whose initialize
  // overlapped other requests); the first gap of the early ones includes the later openings.
  const opened: string[] = [];
  for (const _ of plans) opened.push((await initializeSession(url)).sessionId ?? '');
  await Promise.all(
    plans.map(async (plan, index) => {
      const sessionId = opened[index];
      const open = plan.stream ? await openEventStream(url, { sessionId }) : null;
      let id = 10;
      for (const gap of plan.gaps) {
        await sleep(gap);
        await postJsonRpc(url, toolsListMessage(id++), { sessionId });
      }
      open?.close();
    }),
  );
}

/** Serves a Hono app on a free loopback port until the test ends. */
async function listen(app: Hono): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Text elements of each chart that stick out of it (a label cut at the chart's edge). */
async function labelsOutsideCharts(page: Page): Promise<string[]> {
  // A string, evaluated in the page (the test's TypeScript has no DOM types).
  return page.evaluate(`[...document.querySelectorAll('svg.chart')].flatMap((svg) => {
    const box = svg.getBoundingClientRect();
    return [...svg.querySelectorAll('text')]
      .filter((t) => {
        const r = t.getBoundingClientRect();
        return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
      })
      .map((t) => svg.getAttribute('aria-labelledby') + ': "' + t.textContent + '"');
  })`);
}

/** Neighbouring tick labels of an axis drawn over each other ("10,000 s100,000 s"). */
async function overlappingTicks(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('svg.chart')].flatMap((svg) => {
    const boxes = [...svg.querySelectorAll('text.tick.x')]
      .map((t) => ({ text: t.textContent, r: t.getBoundingClientRect() }))
      .sort((a, b) => a.r.left - b.r.left);
    return boxes.slice(1).flatMap((b, i) => (boxes[i].r.right > b.r.left + 0.5 ? [boxes[i].text + ' | ' + b.text] : []));
  })`);
}

describe.skipIf(skipBrowser)('dashboard in chromium', () => {
  it('signs in with ?token=, shows the overview and a survival chart with data, starts a probe from the form and renders its progress', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 1000, initDelayMs: 15, expiryStyle: 'spec' });
    const quiet = await upstreams.start({});
    const p = await startTestProxy(
      [
        upstreamConfig('fixture', upstream.url, { name: 'Fixture (1 s idle timeout)' }),
        upstreamConfig('quiet', quiet.url),
      ],
      { config: { admin: { token: ADMIN_TOKEN } } },
    );
    proxies.push(p);
    await generateTraffic(p, 'fixture');
    await p.flush();

    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page);

    // Without the token the browser is sent to the sign-in form.
    await page.goto(`${p.url}/`);
    expect(new URL(page.url()).pathname).toBe('/login');

    // `?token=` once: redirected to the same page without it, signed in by an HttpOnly cookie.
    await page.goto(`${p.url}/?token=${ADMIN_TOKEN}`);
    expect(page.url()).toBe(`${p.url}/`);
    const cookies = await context.cookies();
    const cookie = cookies.find((c) => c.name === 'mcpprobe_admin');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie?.value).not.toContain(ADMIN_TOKEN);

    const row = page.locator('tr[data-upstream="fixture"]');
    // The recommendation says what it rests on; the basis is in words, not an enum value.
    await expect(row.textContent()).resolves.toMatch(
      /from \d+ idle-gap observations \(\d+ from agent traffic, 0 from probes\)/,
    );
    await expect(page.locator('tr[data-upstream="quiet"]').textContent()).resolves.toContain('Thin evidence');
    await expect(page.locator('tr[data-upstream="quiet"]').textContent()).resolves.toContain(
      'nothing observed yet',
    );
    await expect(row.locator('th a').textContent()).resolves.toBe('Fixture (1 s idle timeout)');
    const expirations24h = Number(await row.locator('td').last().textContent());
    expect(expirations24h).toBeGreaterThanOrEqual(2);

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-overview.png', fullPage: true });
    await row.locator('th a').click();
    await page.waitForURL(`${p.url}/upstreams/fixture`);
    const chart = page.locator('svg.survival-chart');
    await expect(chart.getAttribute('data-points')).resolves.toMatch(/^[1-9]\d*$/);
    expect(await chart.locator('.band.no-stream circle.pt.survived').count()).toBeGreaterThanOrEqual(5);
    expect(await chart.locator('.band.no-stream path.pt.expired').count()).toBeGreaterThanOrEqual(2);
    expect(await chart.locator('.band.stream circle.pt.survived').count()).toBeGreaterThanOrEqual(1);
    // The shaded window sits between the longest survival and the shortest expiry, around 1 s.
    const window = chart.locator('.band.no-stream g.window');
    const lower = Number(await window.getAttribute('data-lower'));
    const upper = Number(await window.getAttribute('data-upper'));
    // Bounds around the 1 s timeout; loose because a loaded CI machine stretches the short gaps.
    expect(lower).toBeGreaterThanOrEqual(0.2);
    expect(lower).toBeLessThan(1.5);
    expect(upper).toBeGreaterThan(lower);
    expect(upper).toBeLessThan(3);
    await expect(chart.locator('title').first().textContent()).resolves.toContain('fixture');
    expect(await page.locator('table caption', { hasText: 'most recent expiries' }).count()).toBe(1);

    // Kept even if the probe part below fails, so the artifact shows what the page looked like.
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });

    // The probe form, driven by keyboard as a person without a mouse would.
    await page.selectOption('form.probe select[name="mode"]', 'fanout');
    await page.fill('form.probe input[name="intervals"]', '0.2, 1.6');
    await page.focus('form.probe button');
    await page.keyboard.press('Enter');
    const progress = page.locator('#probe-progress');
    await progress.locator('li[data-type="checkpoint"]').first().waitFor({ timeout: 15_000 });
    await progress.locator('li[data-type="run-done"]').waitFor({ timeout: 15_000 });
    const lines = await progress.locator('li').allTextContents();
    expect(lines.some((l) => /^\[upstream=fixture t=\+\d+s\] idle 0\.2s: OK/.test(l))).toBe(true);
    expect(lines.some((l) => /idle 1\.6s: FAIL/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('probe done');

    await page.screenshot({ path: 'test-results/dashboard-probe-progress.png', fullPage: true });

    // The finished run appears in the runs table without a reload (the page refreshes its live parts).
    await page.locator('#probe-runs-table table tbody tr').first().waitFor({ timeout: 15_000 });

    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
    expect(errors, errors.join('\n')).toEqual([]);

    // Without JavaScript the page still reads, and the same form starts a probe by a plain POST.
    const noScript = await browser.newContext({ javaScriptEnabled: false });
    await noScript.addCookies(cookies);
    const plain = await noScript.newPage();
    await plain.goto(`${p.url}/upstreams/fixture`);
    expect(await plain.locator('svg.survival-chart path.pt.expired').count()).toBeGreaterThanOrEqual(2);
    await plain.selectOption('form.probe select[name="mode"]', 'fanout');
    await plain.fill('form.probe input[name="intervals"]', '0.1');
    await plain.click('form.probe button');
    await plain.waitForURL(/\/upstreams\/fixture\?probe=/);
    await expect(plain.locator('#probe-progress').textContent()).resolves.toMatch(
      /^Probe \S+ started; reload/,
    );
    await noScript.close();
    await context.close();
  }, 60_000);

  it('the probe form says how long a run takes before it starts, and its Cancel button stops the run (phone width, dark mode)', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 60_000 });
    const p = await startTestProxy([upstreamConfig('slow', upstream.url)]);
    proxies.push(p);
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${p.url}/upstreams/slow`);
    // Follows the system's dark mode; nothing is wider than a phone.
    await expect(page.evaluate('getComputedStyle(document.body).backgroundColor')).resolves.toBe(
      'rgb(13, 17, 23)',
    );
    await expect(page.evaluate('document.documentElement.scrollWidth')).resolves.toBeLessThanOrEqual(390);
    // A copy-ready client config for this upstream, pointing at the proxy.
    await expect(page.locator('pre[data-client="Claude Code"]').textContent()).resolves.toBe(
      `claude mcp add --transport http slow ${p.url}/mcp/slow`,
    );

    // The defaults (the CLI's and the API's): a search up to 1 h idle, shown before anything starts.
    const estimate = page.locator('form.probe output[data-estimate]');
    await expect(estimate.textContent()).resolves.toMatch(/Takes 10 s to 2 h/);
    await expect(page.locator('form.probe select[name="mode"]').inputValue()).resolves.toBe('search');
    await page.selectOption('form.probe select[name="mode"]', 'fanout');
    await waitForText(estimate, /about 30 min/);
    await expect(
      page.locator('form.probe input[name="intervals"]').getAttribute('placeholder'),
    ).resolves.toBe('5s, 30s, 1m, 5m, 15m, 30m');
    // It follows what is typed, units included.
    await page.fill('form.probe input[name="intervals"]', '5, 2m');
    await waitForText(estimate, /about 2 min/);
    await page.fill('form.probe input[name="intervals"]', '5, soon');
    await waitForText(estimate, /"soon" is not an idle gap/);

    // A 10-minute run, cancelled from the page.
    await page.fill('form.probe input[name="intervals"]', '10m');
    const cancel = page.locator('form.probe button[data-cancel]');
    expect(await cancel.isVisible()).toBe(false);
    await page.click('form.probe button[type="submit"]');
    const progress = page.locator('#probe-progress');
    await progress.locator('li[data-type="waiting"]').first().waitFor({ timeout: 15_000 });
    const id = await progress.locator('code').textContent();
    expect(await cancel.isVisible()).toBe(true);
    await cancel.click();
    await progress.locator('li[data-type="run-done"]').waitFor({ timeout: 15_000 });
    await expect(progress.locator('.state').textContent()).resolves.toBe('cancelled');
    expect(await cancel.isVisible()).toBe(false);
    expect(await page.locator('form.probe button[type="submit"]').isEnabled()).toBe(true);
    const stored = (await (await fetch(`${p.url}/api/probes/${id}`)).json()) as { status: string };
    expect(stored.status).toBe('cancelled');
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-probe-cancelled.png', fullPage: true });
    expect(errors, errors.join('\n')).toEqual([]);
    await context.close();
  }, 60_000);

  it('charts keep every label inside them, and each time axis in one unit (gaps up to hours, sessions over 20 min)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-charts-'));
    const store = await openStore(`sqlite:${join(dir, 'probe.db')}`);
    cleanups.push(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await store.migrate();
    await store.upsertUpstreams([
      {
        id: 'wide',
        name: 'wide',
        url: 'https://mcp.example/mcp',
        transport: 'streamable-http',
        stateless: null,
        validatesSessionIds: null,
      },
    ]);
    const now = Date.now();
    const sessions: SessionRecord[] = [90, 400, 1200].map((ageSeconds, i) => ({
      upstream: 'wide',
      source: 'proxy',
      sessionHash: `session${i}`.padEnd(16, '0'),
      transport: 'streamable-http',
      openedAt: now - ageSeconds * 1000,
      adopted: false,
      initLatencyMs: [40, 180, 2600][i]!,
      initializedAt: null,
      protocolVersion: '2025-06-18',
      clientName: null,
      clientVersion: null,
      serverName: null,
      serverVersion: null,
      exchanges: 3,
      lastActivityAt: now - 30_000,
      endedAt: null,
      endReason: null,
    }));
    // Survivals up to 50 min idle and expiries beyond: the window sits at the axis's right edge.
    const gaps: Array<[number, boolean]> = [
      [0.05, true],
      [2, true],
      [60, true],
      [3000, true],
      [9000, false],
      [12_000, false],
    ];
    const exchanges: ExchangeRecord[] = gaps.map(([gap, ok], i) => ({
      upstream: 'wide',
      source: 'proxy',
      probeRunId: null,
      transport: 'streamable-http',
      sessionHash: sessions[i % 3]!.sessionHash,
      httpMethod: 'POST',
      rpcMethod: 'tools/list',
      rpcCount: 1,
      toolName: null,
      rpcId: String(i),
      startedAt: now - 60_000 + i,
      headersAt: now - 60_000 + i + 5,
      responseAt: now - 60_000 + i + 5,
      endedAt: now - 60_000 + i + 5,
      httpStatus: ok ? 200 : 404,
      outcome: ok ? 'ok' : 'session_expired',
      confidence: ok ? null : 'spec',
      idleGapMs: gap * 1000,
      sessionAgeMs: gap * 1000 + 500,
      streamAttached: false,
      exchangesBefore: 2,
      protocolVersion: '2025-06-18',
      era: '2025',
      upstreamVersions: null,
      callerHash: 'c1',
      rpcErrorCode: null,
      errorMessage: null,
      healed: false,
      healLatencyMs: null,
    }));
    await store.write([
      ...sessions.map((session) => ({ type: 'session' as const, session })),
      ...exchanges.map((exchange) => ({ type: 'exchange' as const, exchange })),
    ]);
    const host = new Hono();
    host.route('/', dashboard({ store }));
    const url = await listen(host);
    for (const viewport of [
      { width: 1200, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      await page.goto(`${url}/upstreams/wide`);
      await expect(page.locator('svg.chart').count()).resolves.toBeGreaterThanOrEqual(3);
      expect(await labelsOutsideCharts(page)).toEqual([]);
      expect(await overlappingTicks(page)).toEqual([]);
      // One unit per axis: the timeline's ticks all in minutes here, the idle-gap axis in seconds.
      const ticks = async (chart: string) =>
        (await page.locator(`${chart} text.tick.x`).allTextContents()).filter((t) => t !== 'now');
      const units = async (chart: string) => new Set((await ticks(chart)).map((t) => t.split(' ').at(-1)));
      await expect(units('#session-timeline svg')).resolves.toEqual(new Set(['min']));
      await expect(units('svg.survival-chart')).resolves.toEqual(new Set(['s']));
      await expect(ticks('svg.survival-chart')).resolves.toContain('10,000 s');
      await expect(units('#init-histogram svg')).resolves.toEqual(new Set(['s']));
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: `test-results/dashboard-charts-${viewport.width}.png`, fullPage: true });
      await context.close();
    }
  }, 60_000);

  it('mounted under /gateway in a host app: links, the probe form and its live progress stay under the prefix, and the run gets a readable page', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 1000 });
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-gateway-'));
    const probe = await createMcpSessionProbe({
      config: { upstreams: [{ id: 'fixture', url: upstream.url }] },
      db: join(dir, 'probe.db'),
    });
    cleanups.push(async () => {
      await probe.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const host = new Hono();
    host.get('/', (c) => c.text('the host app'));
    host.route('/gateway', probe.app);
    const base = await listen(host);

    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${base}/gateway`);
    await page.locator('tr[data-upstream="fixture"] th a').click();
    await page.waitForURL(`${base}/gateway/upstreams/fixture`);
    const targets: string[] = await page.evaluate(
      `[...document.querySelectorAll('a[href], form[action]')].map((e) => e.getAttribute('href') ?? e.getAttribute('action') ?? '')`,
    );
    expect(targets.filter((t) => t.startsWith('/') && !t.startsWith('/gateway'))).toEqual([]);
    await expect(page.locator('pre[data-client="Claude Code"]').textContent()).resolves.toBe(
      `claude mcp add --transport http fixture ${base}/gateway/mcp/fixture`,
    );

    // The estimate, the run and its events are fetched under the prefix.
    await page.selectOption('form.probe select[name="mode"]', 'fanout');
    await page.fill('form.probe input[name="intervals"]', '0.2, 1.8');
    await waitForText(page.locator('form.probe output[data-estimate]'), /^Takes /);
    await page.click('form.probe button[type="submit"]');
    const progress = page.locator('#probe-progress');
    await progress.locator('li[data-type="run-done"]').waitFor({ timeout: 20_000 });
    await expect(progress.locator('.state').textContent()).resolves.toBe('done');

    // The run's own page: its window, each session's outcome, the JSON one link away.
    await progress.locator('a').first().click();
    await page.waitForURL(/\/gateway\/probes\/[^/]+$/);
    const run = page.locator('section.upstream-run[data-upstream="fixture"]');
    await expect(run.locator('[data-window]').textContent()).resolves.toMatch(
      /^\(0\.\d+ s, [12](\.\d+)? s\]$/,
    );
    await expect(run.locator('table.outcomes tbody tr[data-outcome="alive"]').count()).resolves.toBe(1);
    await expect(
      run.locator('table.outcomes tbody tr[data-outcome="session_expired"]').count(),
    ).resolves.toBe(1);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-probe-run.png', fullPage: true });
    const json = await page.locator('a[data-json]').getAttribute('href');
    expect(json).toMatch(/^\/gateway\/api\/probes\//);
    const stored = (await (await fetch(`${base}${json}`)).json()) as { status: string; mode: string };
    expect(stored).toMatchObject({ status: 'done', mode: 'fanout' });
    expect(errors, errors.join('\n')).toEqual([]);
    await context.close();
  }, 60_000);
});
