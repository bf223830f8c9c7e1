// `login`, `logout` and `auth status`: the OAuth side of the CLI (docs/oauth.md).
import { parseArgs } from 'node:util';
import { login } from '../auth/login.js';
import { canonicalServerUrl, probeHome, type StoredGrant, TokenStore } from '../auth/tokenStore.js';
import { CONFIG_PATH_ENV, loadConfig } from '../config/load.js';
import type { UpstreamConfig } from '../config/schema.js';
import { redactUrl } from '../security/redact.js';

export const LOGIN_USAGE = `Usage: mcp-session-probe login <upstream-id> [--config FILE]
       mcp-session-probe login --url URL [--scopes a,b] [--client-id ID] [--client-metadata-url URL]

Logs in to an OAuth-protected MCP server once, in the browser: discovery, registration (CIMD when
the server supports it and --client-metadata-url is given, dynamic registration otherwise, or a
pre-registered client), authorization code with PKCE and a loopback redirect. The browser is the
command in $BROWSER (the URL is its last argument), else the platform's opener; the URL is also
printed. Tokens are stored under $MCP_PROBE_HOME (default ~/.mcp-session-probe), mode 0600, and
every probe refreshes them headlessly.

  --url URL                 a server that is not in the config (probe it with probe --url URL)
  --scopes a,b              scopes to ask for when the server names none
  --client-id ID            a pre-registered client (secret: $MCP_PROBE_CLIENT_SECRET)
  --client-metadata-url URL this client's metadata document (https), for servers that support CIMD
  --timeout S               how long to wait for the browser (default 300)`;

export const LOGOUT_USAGE = `Usage: mcp-session-probe logout <upstream-id> [--config FILE] | --url URL | --all

Deletes the stored login (tokens and client registration) for an upstream or URL.`;

export const AUTH_USAGE = `Usage: mcp-session-probe auth status [--json]

Lists stored logins: server, upstream, issuer, scopes, when each access token expires and whether
it can be refreshed. Never prints a token.`;

export interface AuthCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env?: Readonly<Record<string, string | undefined>>;
}

const defaultIo: AuthCommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

class UsageError extends Error {}

async function upstreamFromConfig(id: string, configPath: string | undefined): Promise<UpstreamConfig> {
  const config = await loadConfig({ path: configPath });
  if (!config)
    throw new UsageError(
      `no config to find upstream "${id}" in: pass --config FILE or set ${CONFIG_PATH_ENV}, or use --url URL`,
    );
  const upstream = config.upstreams.find((u) => u.id === id);
  if (!upstream)
    throw new UsageError(
      `unknown upstream "${id}"; configured: ${config.upstreams.map((u) => u.id).join(', ')}`,
    );
  return upstream;
}

function checkUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol === 'http:' || u.protocol === 'https:') return canonicalServerUrl(raw);
  } catch {}
  throw new UsageError(`--url "${redactUrl(raw)}" must be an absolute http or https URL`);
}

async function guarded(name: string, io: AuthCommandIo, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`mcp-session-probe ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

export function loginCommand(argv: string[], io: AuthCommandIo = defaultIo): Promise<number> {
  return guarded('login', io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        url: { type: 'string' },
        scopes: { type: 'string' },
        'client-id': { type: 'string' },
        'client-metadata-url': { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout(`${LOGIN_USAGE}\n`);
      return 0;
    }
    const env = io.env ?? process.env;
    const [id, ...extra] = positionals;
    if (extra.length || (id && values.url) || (!id && !values.url))
      throw new UsageError(`name one upstream id or --url URL\n\n${LOGIN_USAGE}`);
    let serverUrl: string;
    let upstream: string | null = null;
    let scopes = values.scopes
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    let clientId = values['client-id'];
    let clientSecret = env.MCP_PROBE_CLIENT_SECRET || undefined;
    let clientMetadataUrl = values['client-metadata-url'];
    let transport: 'sse' | undefined;
    if (id) {
      const u = await upstreamFromConfig(id, values.config);
      if (u.auth?.type === 'client_credentials') {
        io.stdout(
          `"${id}" uses client_credentials from the config: probes get their tokens themselves, no login needed\n`,
        );
        return 0;
      }
      serverUrl = u.url;
      upstream = u.id;
      if (u.transport === 'sse') transport = 'sse';
      if (u.auth?.type === 'oauth') {
        scopes ??= u.auth.scopes;
        clientId ??= u.auth.clientId;
        clientSecret = u.auth.clientSecret ?? clientSecret;
        clientMetadataUrl ??= u.auth.clientMetadataUrl;
      }
    } else serverUrl = checkUrl(values.url!);
    if (clientMetadataUrl !== undefined && !/^https:\/\/[^/]+\/./.test(clientMetadataUrl))
      throw new UsageError(`--client-metadata-url "${clientMetadataUrl}" must be an https URL with a path`);
    const timeoutSeconds = values.timeout === undefined ? 300 : Number(values.timeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
      throw new UsageError(`--timeout "${values.timeout}" must be a positive number of seconds`);
    const store = new TokenStore(probeHome(env));
    const loginHint = upstream
      ? `mcp-session-probe login ${upstream}`
      : `mcp-session-probe login --url ${serverUrl}`;
    io.stderr(`logging in to ${redactUrl(serverUrl)}${upstream ? ` (upstream ${upstream})` : ''}\n`);
    try {
      const result = await login({
        store,
        serverUrl,
        upstream,
        scopes,
        clientId,
        clientSecret,
        clientMetadataUrl,
        transport,
        say: (line) => io.stderr(`${line}\n`),
        timeoutMs: timeoutSeconds * 1000,
        loginCommand: loginHint,
      });
      if (result.kind === 'not-required') {
        io.stdout(`${redactUrl(serverUrl)} answered without asking for authorization: nothing to store\n`);
        return 0;
      }
      io.stdout(`logged in: ${describeGrant(result.grant, Date.now())}\nstored in ${result.file}\n`);
      return 0;
    } catch (err) {
      io.stderr(`mcp-session-probe login: ${(err as Error).message}\n`);
      return 1;
    }
  });
}

export function logoutCommand(argv: string[], io: AuthCommandIo = defaultIo): Promise<number> {
  return guarded('logout', io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        url: { type: 'string' },
        all: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout(`${LOGOUT_USAGE}\n`);
      return 0;
    }
    const store = new TokenStore(probeHome(io.env ?? process.env));
    const [id] = positionals;
    const chosen = [id, values.url, values.all || undefined].filter((x) => x !== undefined);
    if (chosen.length !== 1 || positionals.length > 1)
      throw new UsageError(`name one upstream id, --url URL or --all\n\n${LOGOUT_USAGE}`);
    let urls: string[];
    if (values.all) urls = [...new Set((await store.list()).map((g) => g.grant.serverUrl))];
    else if (values.url) urls = [checkUrl(values.url)];
    else urls = [(await upstreamFromConfig(id!, values.config)).url];
    let removed = 0;
    for (const url of urls) removed += await store.remove(url);
    io.stdout(
      removed ? `logged out: ${urls.map((u) => redactUrl(u)).join(', ')}\n` : 'no stored login to remove\n',
    );
    return 0;
  });
}

export function authCommand(argv: string[], io: AuthCommandIo = defaultIo): Promise<number> {
  return guarded('auth', io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help || positionals[0] !== 'status' || positionals.length > 1) {
      if (values.help) {
        io.stdout(`${AUTH_USAGE}\n`);
        return 0;
      }
      throw new UsageError(
        `unknown subcommand ${positionals[0] ? `"${positionals[0]}"` : '(none)'}\n\n${AUTH_USAGE}`,
      );
    }
    const store = new TokenStore(probeHome(io.env ?? process.env));
    const now = Date.now();
    const grants = (await store.list()).map((g) => statusOf(g.grant, now));
    if (values.json) io.stdout(`${JSON.stringify({ home: store.dir, logins: grants }, null, 2)}\n`);
    else if (grants.length === 0) io.stdout(`no stored logins in ${store.dir}\n`);
    else for (const g of (await store.list()).map((x) => x.grant)) io.stdout(`${describeGrant(g, now)}\n`);
    return 0;
  });
}

/** What `auth status --json` shows of a grant: times, names and scopes, never a token. */
export function statusOf(g: StoredGrant, now: number) {
  return {
    serverUrl: g.serverUrl,
    upstream: g.upstream,
    issuer: g.issuer,
    clientId: g.clientInformation?.client_id ?? null,
    scope: g.tokens?.scope ?? null,
    obtainedAt: new Date(g.obtainedAt).toISOString(),
    expiresAt: g.expiresAt === null ? null : new Date(g.expiresAt).toISOString(),
    expiresInSeconds: g.expiresAt === null ? null : Math.round((g.expiresAt - now) / 1000),
    refreshable: Boolean(g.tokens?.refresh_token),
    refreshFailedAt: g.refreshFailedAt === null ? null : new Date(g.refreshFailedAt).toISOString(),
    tokensIssued: g.issues.length,
  };
}

function describeGrant(g: StoredGrant, now: number): string {
  const s = statusOf(g, now);
  const expiry =
    s.expiresInSeconds === null
      ? 'no expiry announced'
      : s.expiresInSeconds > 0
        ? `expires in ${s.expiresInSeconds} s`
        : `expired ${-s.expiresInSeconds} s ago`;
  const refresh = s.refreshFailedAt
    ? `refresh failed at ${s.refreshFailedAt}: log in again`
    : s.refreshable
      ? 'refreshable'
      : 'no refresh token';
  return `${s.upstream ?? '(--url)'}  ${redactUrl(s.serverUrl)}  issuer ${s.issuer}  ${s.scope ? `scope "${s.scope}"  ` : ''}${expiry}, ${refresh}`;
}
