// OAuth end to end against a fixture authorization server whose access tokens live two
// seconds: `login --url` through a "browser" (curl following the redirects), `auth status`,
// a probe that outlives its token and refreshes, a revoked refresh token that ends in
// auth_required with the login hint, and no token anywhere but the token store.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoredLoginAuthorizer } from '../src/auth/authorizer.js';
import { TokenStore } from '../src/auth/tokenStore.js';
import { authCommand, loginCommand, logoutCommand } from '../src/commands/auth.js';
import { probeCommand } from '../src/commands/probe.js';
import { type ProbeResult, STREAM_LIFETIME_NOTE } from '../src/probe/result.js';
import { type OAuthFixture, startOAuthFixture } from './fixtures/oauthServer.js';

let dir: string;
let fixture: OAuthFixture | null = null;
const saved = { home: process.env.MCP_PROBE_HOME, browser: process.env.BROWSER };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-probe-oauth-'));
  process.env.MCP_PROBE_HOME = join(dir, 'home');
  process.env.BROWSER = 'curl -sfL -o /dev/null';
});
afterEach(async () => {
  await fixture?.close();
  fixture = null;
  process.env.MCP_PROBE_HOME = saved.home;
  process.env.BROWSER = saved.browser;
  rmSync(dir, { recursive: true, force: true });
});

type Command = (
  argv: string[],
  io: { stdout: (t: string) => void; stderr: (t: string) => void },
) => Promise<number>;
async function run(command: Command, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await command(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { code, stdout, stderr };
}

function everyFile(root: string): string[] {
  return readdirSync(root, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('OAuth: login, headless refresh, auth_required', () => {
  it('logs in through the browser, then a probe longer than a token lives refreshes and finishes; no token leaks', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 2 });
    const login = await run(loginCommand, ['--url', fixture.url, '--timeout', '20']);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain('/authorize?'); // the URL is always printed
    expect(fixture.counts.codeGrants).toBe(1);

    const home = process.env.MCP_PROBE_HOME!;
    const [file] = readdirSync(join(home, 'credentials'));
    expect(statSync(join(home, 'credentials', file!)).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'credentials')).mode & 0o777).toBe(0o700);
    expect(statSync(home).mode & 0o777).toBe(0o700);

    const status = await run(authCommand, ['status', '--json']);
    const logins = JSON.parse(status.stdout).logins;
    expect(logins).toHaveLength(1);
    expect(logins[0]).toMatchObject({ serverUrl: fixture.url, issuer: fixture.issuer, refreshable: true });

    const output = join(dir, 'result.json');
    const db = join(dir, 'probe.db');
    const probe = await run(probeCommand, [
      '--url',
      fixture.url,
      '--intervals',
      '1,3',
      '--db',
      db,
      '--output',
      output,
    ]);
    expect(probe.code, probe.stderr).toBe(0);
    const result = JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    const r = result.results[0]!;
    expect(r.fatalError).toBeNull();
    expect(r.checkpoints.map((c) => [c.idleSecondsTarget, c.success])).toEqual([
      [1, true],
      [3, true],
    ]);
    // The run outlived its first token: at least one refresh, each token announced 2 s.
    expect(fixture.counts.refreshGrants).toBeGreaterThanOrEqual(1);
    expect(r.credential?.refreshes).toBeGreaterThanOrEqual(1);
    expect(r.credential?.tokens.every((t) => t.expiresInSeconds === 2)).toBe(true);
    expect(r.credential?.authRequired).toBeNull();
    expect(probe.stdout).toMatch(
      /~ 127-0-0-1: OAuth login: \d+ tokens \(announced lifetime 2s\), [1-9]\d* refresh/,
    );

    // Every token the server issued: in the token store only, never in the store, logs or results.
    const texts = [login.stdout, login.stderr, status.stdout, probe.stdout, probe.stderr];
    const files = [output, ...everyFile(dir).filter((f) => !f.startsWith(join(home, 'credentials')))];
    const haystack = texts.join('\n') + files.map((f) => readFileSync(f).toString('latin1')).join('\n');
    expect(fixture.issued.length).toBeGreaterThanOrEqual(4);
    for (const token of fixture.issued)
      expect(haystack.includes(token), `token leaked: ${token.slice(0, 12)}…`).toBe(false);

    expect((await run(logoutCommand, ['--url', fixture.url])).code).toBe(0);
    expect(readdirSync(join(home, 'credentials'))).toEqual([]);
  }, 60_000);

  it('a revoked refresh token ends the probe as auth_required with the login hint, never a session expiry', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 1 });
    expect((await run(loginCommand, ['--url', fixture.url, '--timeout', '20'])).code).toBe(0);
    fixture.revokeRefreshTokens();
    await new Promise((r) => setTimeout(r, 1100)); // the access token has expired

    const output = join(dir, 'result.json');
    const probe = await run(probeCommand, [
      '--url',
      fixture.url,
      '--intervals',
      '1',
      '--db',
      join(dir, 'p.db'),
      '--output',
      output,
    ]);
    expect(probe.code).toBe(2); // every upstream failed (here, the only one)
    const r = (JSON.parse(readFileSync(output, 'utf8')) as ProbeResult).results[0]!;
    expect(r.fatalError).toMatch(
      /^auth_required: .*could not be refreshed.*; run: mcp-session-probe login --url http:\/\/127\.0\.0\.1:\d+\/mcp$/,
    );
    expect(r.credential?.authRequired).toBe(r.fatalError);
    expect(r.checkpoints.some((c) => c.errorType === 'session_expired')).toBe(false);
    expect(probe.stderr).toContain('run: mcp-session-probe login --url');

    const status = JSON.parse((await run(authCommand, ['status', '--json'])).stdout).logins[0];
    expect(status.refreshFailedAt).not.toBeNull();
  }, 60_000);

  it('two refreshers of one login at once (as two processes): one refresh, both get the new token', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 1 });
    expect((await run(loginCommand, ['--url', fixture.url, '--timeout', '20'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    // Separate stores and authorizers share nothing in memory: only the files and the lock.
    const make = () =>
      new StoredLoginAuthorizer({
        store: new TokenStore(process.env.MCP_PROBE_HOME),
        serverUrl: fixture!.url,
        upstream: null,
        loginCommand: 'mcp-session-probe login --url …',
      });
    const [a, b] = await Promise.all([make().headers(), make().headers()]);
    // Refresh tokens rotate here: a second refresh with the same one would have been refused.
    expect(fixture.counts.refreshGrants).toBe(1);
    expect(a.authorization).toBe(b.authorization);
  }, 30_000);
});

describe('OAuth: what the probe does when the upstream refuses it', () => {
  const probeOnce = async (args: string[]) => {
    const output = join(dir, `result-${Math.random().toString(36).slice(2)}.json`);
    const probe = await run(probeCommand, [...args, '--db', join(dir, 'p.db'), '--output', output]);
    return { probe, r: (JSON.parse(readFileSync(output, 'utf8')) as ProbeResult).results[0]! };
  };

  it('a 401 to initialize says to log in; a login whose access token was revoked is refreshed and the probe goes on', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 30 });
    const before = await probeOnce(['--url', fixture.url, '--intervals', '0.3']);
    expect(before.r.fatalError).toMatch(
      /^auth_required: the upstream asks for authorization \(initialize failed: auth \(HTTP 401\).*\); run: mcp-session-probe login --url http:\/\/127\.0\.0\.1:\d+\/mcp$/,
    );
    expect(before.r.fatalError).not.toContain('headers');

    expect((await run(loginCommand, ['--url', fixture.url, '--timeout', '20'])).code).toBe(0);
    fixture.revokeAccessTokens(); // the stored token still looks valid for 30 s
    const after = await probeOnce(['--url', fixture.url, '--intervals', '0.3']);
    expect(after.r.fatalError).toBeNull();
    expect(after.r.checkpoints.map((c) => c.success)).toEqual([true]);
    expect(fixture.counts.refreshGrants).toBe(1);
  }, 60_000);

  it('403 insufficient_scope ends the probe as auth_required; logging in again steps up to the wider scope', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 30 });
    expect((await run(loginCommand, ['--url', fixture.url, '--timeout', '20'])).code).toBe(0);
    fixture.requireScope('mcp:extra');
    const { r } = await probeOnce(['--url', fixture.url, '--intervals', '0.3']);
    expect(r.fatalError).toMatch(
      /^auth_required: \S+ needs scope "mcp:extra", which the stored login was not granted \(HTTP 403 insufficient_scope\); run: mcp-session-probe login --url /,
    );
    expect(r.credential?.authRequired).toBe(r.fatalError);

    // The login's own tools/list meets the same 403 and asks again with the scope added.
    const again = await run(loginCommand, ['--url', fixture.url, '--timeout', '20']);
    expect(again.code, again.stderr).toBe(0);
    expect(fixture.requestedScopes.at(-1)).toBe('mcp:extra');
    const status = JSON.parse((await run(authCommand, ['status', '--json'])).stdout).logins[0];
    expect(status.scope).toBe('mcp:extra');
  }, 60_000);

  it('legacy HTTP+SSE: login and probe by URL find the transport; a probe longer than the token lives refreshes it for every POST', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 2, legacySse: true });
    // The Streamable HTTP POST is refused (405) once the token is there: the login goes on over SSE.
    const login = await run(loginCommand, ['--url', fixture.url, '--timeout', '20']);
    expect(login.code, login.stderr).toBe(0);
    const { probe, r } = await probeOnce(['--url', fixture.url, '--intervals', '1,3']);
    expect(r.warnings).toContain(STREAM_LIFETIME_NOTE); // probed as legacy HTTP+SSE
    expect(probe.code, probe.stderr).toBe(0);
    expect(r.fatalError).toBeNull();
    expect(r.checkpoints.map((c) => [c.idleSecondsTarget, c.success])).toEqual([
      [1, true],
      [3, true],
    ]);
    expect(r.credential?.refreshes).toBeGreaterThanOrEqual(1);
    expect(fixture.counts.refreshGrants).toBeGreaterThanOrEqual(1);
    // No token in the result, the database or the output.
    const credentials = join(process.env.MCP_PROBE_HOME!, 'credentials');
    const files = everyFile(dir).filter((f) => !f.startsWith(credentials));
    const haystack = [
      probe.stdout,
      probe.stderr,
      ...files.map((f) => readFileSync(f).toString('latin1')),
    ].join('\n');
    for (const token of fixture.issued) expect(haystack.includes(token)).toBe(false);
  }, 60_000);

  it('legacy HTTP+SSE: a token revoked before it expired is refreshed when detection meets the 401, and the stream opens', async () => {
    fixture = await startOAuthFixture({ tokenLifetimeSeconds: 30, legacySse: true });
    expect((await run(loginCommand, ['--url', fixture.url, '--timeout', '20'])).code).toBe(0);
    fixture.revokeAccessTokens();
    const { r } = await probeOnce(['--url', fixture.url, '--intervals', '0.3']);
    expect(r.fatalError).toBeNull();
    expect(r.warnings).toContain(STREAM_LIFETIME_NOTE);
    expect(fixture.counts.refreshGrants).toBe(1);
  }, 60_000);
});
