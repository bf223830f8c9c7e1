// Where OAuth logins live between runs: one JSON file per MCP server URL and authorization
// server (issuer) under `$MCP_PROBE_HOME/credentials/`, mode 0600 in a 0700 folder. Writes
// go to a temporary file that is renamed over the old one, so a reader never sees half a
// file. Refreshes take a lock file created with O_EXCL: with refresh-token rotation, two
// processes refreshing one grant at once would have the second refresh rejected, so the
// second waits, re-reads, and uses the token the first one stored.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

export const PROBE_HOME_ENV = 'MCP_PROBE_HOME';

/** `$MCP_PROBE_HOME`, else `~/.mcp-session-probe`. */
export function probeHome(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env[PROBE_HOME_ENV] || join(homedir(), '.mcp-session-probe');
}

/** One refresh (or first grant) of an access token: when, and how long the server said it lives. */
export interface TokenIssue {
  at: number;
  expiresInSeconds: number | null;
  kind: 'login' | 'refresh' | 'client_credentials';
}

/** What one login keeps: never shown by `auth status` beyond times, scopes and names. */
export interface StoredGrant {
  version: 1;
  /** The MCP server URL logged in to (the resource). */
  serverUrl: string;
  /** The upstream id the login was made for, when it was made for one. */
  upstream: string | null;
  /** The authorization server that issued the tokens. */
  issuer: string;
  clientInformation: OAuthClientInformationMixed | null;
  tokens: OAuthTokens | null;
  /** Epoch ms the current access token was obtained and, when the server said, expires. */
  obtainedAt: number;
  expiresAt: number | null;
  /** The latest token grants (bounded), for credential lifetime. */
  issues: TokenIssue[];
  discoveryState: OAuthDiscoveryState | null;
  /** Set when a refresh was refused: the login must be redone. */
  refreshFailedAt: number | null;
}

const MAX_ISSUES = 50;
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 15_000;

/** A short stable name for a URL: readable host, then a hash so different paths never collide. */
export function serverKey(serverUrl: string): string {
  const u = new URL(serverUrl);
  const host = u.hostname.replace(/[^a-z0-9.-]/gi, '_').slice(0, 60);
  return `${host}-${createHash('sha256').update(canonicalServerUrl(serverUrl)).digest('hex').slice(0, 12)}`;
}

function issuerKey(issuer: string): string {
  return createHash('sha256').update(issuer.replace(/\/+$/, '')).digest('hex').slice(0, 8);
}

/** The URL as logins are matched: no fragment, no trailing slash, lower-case scheme and host. */
export function canonicalServerUrl(serverUrl: string): string {
  const u = new URL(serverUrl);
  u.hash = '';
  return u.href.replace(/\/+$/, '');
}

export class TokenStore {
  readonly dir: string;

  constructor(home: string = probeHome()) {
    this.dir = join(home, 'credentials');
  }

  private async ensureDir(): Promise<void> {
    // The home folder and the credentials folder: 0700 even if they existed with looser modes.
    const home = join(this.dir, '..');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(home, 0o700);
    await chmod(this.dir, 0o700);
  }

  fileFor(serverUrl: string, issuer: string): string {
    return join(this.dir, `${serverKey(serverUrl)}.${issuerKey(issuer)}.json`);
  }

  /** Every stored grant (for `auth status`), newest first. */
  async list(): Promise<Array<{ file: string; grant: StoredGrant }>> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: Array<{ file: string; grant: StoredGrant }> = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const grant = await this.readFile(join(this.dir, name));
      if (grant) out.push({ file: join(this.dir, name), grant });
    }
    return out.sort((a, b) => b.grant.obtainedAt - a.grant.obtainedAt);
  }

  /** The newest grant for a server URL (any issuer), or null. */
  async find(serverUrl: string): Promise<{ file: string; grant: StoredGrant } | null> {
    const prefix = `${serverKey(serverUrl)}.`;
    const all = await this.list();
    return all.find((g) => g.file.slice(this.dir.length + 1).startsWith(prefix)) ?? null;
  }

  async readFile(file: string): Promise<StoredGrant | null> {
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as StoredGrant;
      return parsed?.version === 1 ? parsed : null;
    } catch {
      return null;
    }
  }

  /** Writes atomically: a temporary file (0600) renamed over the old one. */
  async write(grant: StoredGrant): Promise<string> {
    await this.ensureDir();
    const file = this.fileFor(grant.serverUrl, grant.issuer);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const bounded = { ...grant, issues: grant.issues.slice(-MAX_ISSUES) };
    try {
      await writeFile(tmp, `${JSON.stringify(bounded, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return file;
  }

  /** Removes every grant for a server URL; returns how many. */
  async remove(serverUrl: string): Promise<number> {
    const prefix = `${serverKey(serverUrl)}.`;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const mine = names.filter((n) => n.startsWith(prefix) && n.endsWith('.json'));
    for (const n of mine) await unlink(join(this.dir, n)).catch(() => {});
    return mine.length;
  }

  /**
   * Runs `fn` holding the grant file's lock (`<file>.lock`, created with O_EXCL). A lock older
   * than 30 s belongs to a process that died mid-refresh and is taken over.
   */
  async withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
    await this.ensureDir();
    const lock = `${file}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await open(lock, 'wx', 0o600);
        await handle.writeFile(`${process.pid} ${Date.now()}\n`);
        await handle.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > LOCK_STALE_MS) await unlink(lock).catch(() => {});
        else if (Date.now() > deadline)
          throw new Error(`another process holds ${lock}; remove it if no mcp-session-probe is running`);
        else await sleep(25 + Math.random() * 50);
      }
    }
    try {
      return await fn();
    } finally {
      await unlink(lock).catch(() => {});
    }
  }
}

/** Adds a token grant to the record (bounded) and sets the current token's times. */
export function withTokens(
  grant: StoredGrant,
  tokens: OAuthTokens,
  at: number,
  kind: TokenIssue['kind'],
): StoredGrant {
  const expiresIn = typeof tokens.expires_in === 'number' && tokens.expires_in > 0 ? tokens.expires_in : null;
  return {
    ...grant,
    // A refresh response may omit the refresh token: the old one stays valid (RFC 6749 6).
    tokens: { ...tokens, refresh_token: tokens.refresh_token ?? grant.tokens?.refresh_token },
    obtainedAt: at,
    expiresAt: expiresIn === null ? null : at + expiresIn * 1000,
    issues: [...grant.issues, { at, expiresInSeconds: expiresIn, kind }].slice(-MAX_ISSUES),
    refreshFailedAt: null,
  };
}
