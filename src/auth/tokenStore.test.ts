import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalServerUrl, type StoredGrant, TokenStore, withTokens } from './tokenStore.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'token-store-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function grant(serverUrl: string, issuer = 'https://auth.example.com'): StoredGrant {
  return withTokens(
    {
      version: 1,
      serverUrl: canonicalServerUrl(serverUrl),
      upstream: 'linear',
      issuer,
      clientInformation: { client_id: 'c' },
      tokens: null,
      obtainedAt: 0,
      expiresAt: null,
      issues: [],
      discoveryState: null,
      refreshFailedAt: null,
    },
    { access_token: 'at-secret', token_type: 'Bearer', expires_in: 60, refresh_token: 'rt-secret' },
    1_000,
    'login',
  );
}

describe('TokenStore', () => {
  it('writes 0600 files in a 0700 folder, even when the folder existed with looser modes', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(home, 'credentials'), { recursive: true, mode: 0o755 });
    const store = new TokenStore(home);
    const file = await store.write(grant('https://mcp.linear.app/mcp'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(store.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    // Nothing but the file itself: the temporary file was renamed, not left behind.
    expect(await readdir(store.dir)).toEqual([file.slice(store.dir.length + 1)]);
  });

  it('keeps one file per server URL and issuer, finds the newest by URL, and removes them all', async () => {
    const store = new TokenStore(home);
    await store.write(grant('https://mcp.linear.app/mcp', 'https://a.example'));
    await store.write({ ...grant('https://mcp.linear.app/mcp/', 'https://b.example'), obtainedAt: 5_000 });
    await store.write(grant('https://mcp.atlassian.com/v1/sse'));
    expect((await store.list()).length).toBe(3);
    expect((await store.find('https://mcp.linear.app/mcp'))?.grant.issuer).toBe('https://b.example');
    expect(await store.find('https://mcp.linear.app/other')).toBeNull();
    expect(await store.remove('https://mcp.linear.app/mcp')).toBe(2);
    expect((await store.list()).map((g) => g.grant.serverUrl)).toEqual(['https://mcp.atlassian.com/v1/sse']);
  });

  it('keeps the refresh token when a refresh answer omits it, and records each grant', () => {
    const g = withTokens(
      grant('https://x.example/mcp'),
      { access_token: 'at2', token_type: 'bearer', expires_in: 5 },
      9_000,
      'refresh',
    );
    expect(g.tokens?.refresh_token).toBe('rt-secret');
    expect(g.expiresAt).toBe(14_000);
    expect(g.issues.map((i) => [i.kind, i.expiresInSeconds])).toEqual([
      ['login', 60],
      ['refresh', 5],
    ]);
  });

  it('lets one holder of the lock in at a time, across concurrent callers', async () => {
    const store = new TokenStore(home);
    const file = await store.write(grant('https://x.example/mcp'));
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        store.withLock(file, async () => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 20));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect((await readdir(store.dir)).some((n) => n.endsWith('.lock'))).toBe(false);
  });

  it('takes over a lock left by a process that died (older than 30 s)', async () => {
    const store = new TokenStore(home);
    const file = await store.write(grant('https://x.example/mcp'));
    await writeFile(`${file}.lock`, '999999 0\n');
    const { utimes } = await import('node:fs/promises');
    const old = new Date(Date.now() - 60_000);
    await utimes(`${file}.lock`, old, old);
    expect(await store.withLock(file, async () => 'ran')).toBe('ran');
  });

  it('reads a damaged file as no login rather than failing', async () => {
    const store = new TokenStore(home);
    const file = await store.write(grant('https://x.example/mcp'));
    await writeFile(file, '{"version": 1, "serverUrl": ');
    expect(await store.readFile(file)).toBeNull();
    expect(await store.list()).toEqual([]);
  });
});
