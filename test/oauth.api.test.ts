// OAuth in `serve`: a probe started over the admin API (as a scheduled one is) uses the stored
// login, refreshes it when its 2 s tokens run out, and no token appears in any /api answer,
// /metrics or the database.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loginCommand } from '../src/commands/auth.js';
import type { ProbeResult } from '../src/probe/result.js';
import { type OAuthFixture, startOAuthFixture } from './fixtures/oauthServer.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

let fixture: OAuthFixture | null = null;
let proxy: TestProxy | null = null;
const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-oauth-api-'));
const saved = { home: process.env.MCP_PROBE_HOME, browser: process.env.BROWSER };
process.env.MCP_PROBE_HOME = join(dir, 'home');
process.env.BROWSER = 'curl -sfL -o /dev/null';
afterEach(async () => {
  await proxy?.cleanup();
  await fixture?.close();
  process.env.MCP_PROBE_HOME = saved.home;
  process.env.BROWSER = saved.browser;
  rmSync(dir, { recursive: true, force: true });
});

const quiet = { stdout: () => {}, stderr: () => {} };

describe('OAuth in serve: API probes use the stored login', () => {
  it('refreshes mid-probe and leaks no token into /api, /metrics or the store', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 2 });
    proxy = await startTestProxy([upstreamConfig('linearish', fixture.url, { auth: { type: 'oauth' } })]);
    // The stored login is found by the upstream's URL, whichever way it was made.
    expect(await loginCommand(['--url', fixture.url, '--timeout', '20'], quiet)).toBe(0);

    const started = await fetch(`${proxy.url}/api/probes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ upstream: 'linearish', mode: 'fanout', intervals: [1, 3] }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    let result: ProbeResult | null = null;
    for (let i = 0; i < 200; i++) {
      result = (await (await fetch(`${proxy.url}/api/probes/${id}`)).json()) as ProbeResult;
      if (result.status !== 'running') break;
      await sleep(100);
    }
    const r = result!.results[0]!;
    expect(r.fatalError).toBeNull();
    expect(r.checkpoints.every((c) => c.success)).toBe(true);
    expect(r.credential?.refreshes).toBeGreaterThanOrEqual(1);
    await proxy.flush();

    const paths = [
      `/api/probes/${id}`,
      '/api/probes',
      '/api/upstreams',
      '/api/sessions?upstream=linearish',
      '/api/expirations?upstream=linearish',
      '/api/upstreams/linearish/lifetime',
      '/api/report',
      '/metrics',
    ];
    const answers = await Promise.all(paths.map((p) => fetch(`${proxy!.url}${p}`).then((x) => x.text())));
    const lifetime = JSON.parse(answers[5]!);
    expect(lifetime.credential.announcedSeconds).toBe(2);
    const haystack = answers.join('\n') + readFileSync(proxy.dbPath).toString('latin1');
    for (const token of fixture.issued) expect(haystack.includes(token), 'a token leaked').toBe(false);
  }, 60_000);
});
