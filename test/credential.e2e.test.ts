// Passive credential lifetime: agents with their own OAuth tokens (living 2 s) call through the
// proxy until the upstream answers 401 invalid_token. The credential window lands around 2 s,
// apart from the session window (no session expiry is recorded), in the API, the report's
// reason and the dashboard; the tokens themselves appear nowhere in the database.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatReport } from '../src/commands/report.js';
import { type OAuthFixture, startOAuthFixture } from './fixtures/oauthServer.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

let fixture: OAuthFixture | null = null;
let proxy: TestProxy | null = null;
const home = mkdtempSync(join(tmpdir(), 'mcp-probe-cred-home-'));
const savedHome = process.env.MCP_PROBE_HOME;
process.env.MCP_PROBE_HOME = home;
afterEach(async () => {
  await proxy?.cleanup();
  await fixture?.close();
  proxy = null;
  fixture = null;
  process.env.MCP_PROBE_HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

/** One agent: a session with its token, tools/list every 500 ms until refused; returns the statuses. */
async function agent(url: string, token: string): Promise<number[]> {
  const headers = { authorization: `Bearer ${token}` };
  const { sessionId } = await initializeSession(url, { headers });
  const statuses: number[] = [];
  for (let id = 10; id < 30; id++) {
    await sleep(500);
    const { status } = await postJsonRpc(url, toolsListMessage(id), { sessionId, headers });
    statuses.push(status);
    if (status !== 200) break;
  }
  return statuses;
}

describe('passive credential lifetime through the proxy', () => {
  it('finds tokens refused after about 2 s: a credential window, never a session expiry', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 2 });
    proxy = await startTestProxy([upstreamConfig('oauthy', fixture.url)]);
    const url = proxy.mcpUrl('oauthy');
    const [a, b] = await Promise.all([
      agent(url, fixture.mintAccessToken()),
      agent(url, fixture.mintAccessToken()),
    ]);
    for (const statuses of [a, b]) {
      expect(statuses.at(-1)).toBe(401);
      expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    }
    await sleep(50); // observations are written on a later turn of the event loop
    await proxy.flush();

    // biome-ignore lint/suspicious/noExplicitAny: JSON read by the assertions below
    const api = (path: string): Promise<any> => fetch(`${proxy!.url}${path}`).then((r) => r.json());
    const lifetime = await api('/api/upstreams/oauthy/lifetime');
    const c = lifetime.credential;
    expect(c.observations).toBe(2);
    expect(c.rejections).toBe(2);
    // Each token was accepted at ~1.5 s and refused at ~2-2.5 s of its life (500 ms steps, a
    // loaded machine); ages count from the proxy's first sight, a moment after the token was minted.
    expect(c.lowerBoundSeconds).toBeGreaterThanOrEqual(1);
    expect(c.lowerBoundSeconds).toBeLessThan(2);
    expect(c.upperBoundSeconds).toBeGreaterThan(c.lowerBoundSeconds);
    expect(c.upperBoundSeconds).toBeGreaterThanOrEqual(1.5);
    expect(c.upperBoundSeconds).toBeLessThan(4);
    // The 401s are credential expiry: the session window saw no expiry at all.
    expect(lifetime.expirations).toBe(0);
    expect(await api('/api/expirations?upstream=oauthy')).toEqual([]);

    const report = await api('/api/report');
    const reason: string = report.upstreams[0].recommendation.reason;
    expect(reason).toContain('credential expiry, not session expiry');
    // `mcp-session-probe report` prints the same report, the credential window included.
    expect(formatReport(report)).toMatch(
      /credential lifetime: \(\d+(\.\d+)?, \d+(\.\d+)?\] s from 2 credentials/,
    );
    const page = await fetch(`${proxy.url}/`).then((r) => r.text());
    expect(page).toContain('credential: (');

    const db = [proxy.dbPath, `${proxy.dbPath}-wal`]
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('\n');
    for (const token of fixture.issued) expect(db.includes(token)).toBe(false);
    expect(statSync(join(home, 'credential-hash.key')).mode & 0o777).toBe(0o600);
  }, 30_000);
});
