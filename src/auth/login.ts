// `mcp-session-probe login`: the SDK's own client drives the MCP connection, and its
// transport answers 401 (and 403 insufficient_scope) by calling `auth()`, which discovers,
// registers and sends the browser to the authorization server. We open the browser, wait
// for the loopback redirect, hand the code back (`finishAuth`) and connect again, until
// `initialize` and `tools/list` both succeed with the new token.
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { redactUrl } from '../security/redact.js';
import { openBrowser } from './browser.js';
import { startLoopbackRedirect } from './loopback.js';
import { CLIENT_NAME, GrantProvider } from './provider.js';
import type { StoredGrant, TokenStore } from './tokenStore.js';

export interface LoginOptions {
  store: TokenStore;
  serverUrl: string;
  upstream: string | null;
  scopes?: readonly string[];
  clientId?: string;
  clientSecret?: string;
  clientMetadataUrl?: string;
  /** Progress lines for a person (stderr). */
  say: (line: string) => void;
  /** Opens the authorization URL; default `$BROWSER`, else the platform opener. */
  open?: (url: string) => Promise<void>;
  /** How long to wait for the browser to come back. */
  timeoutMs?: number;
  loginCommand: string;
}

export type LoginResult =
  | { kind: 'logged-in'; grant: StoredGrant; file: string }
  /** The server answered without asking for authorization. */
  | { kind: 'not-required' };

/** Authorization requests one login may make (first grant, then at most two scope step-ups). */
const MAX_AUTHORIZATIONS = 3;

export async function login(o: LoginOptions): Promise<LoginResult> {
  const loopback = await startLoopbackRedirect();
  let authorizations = 0;
  const provider = new GrantProvider({
    store: o.store,
    serverUrl: o.serverUrl,
    upstream: o.upstream,
    redirectUrl: loopback.redirectUrl,
    state: loopback.state,
    scopes: o.scopes,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    clientMetadataUrl: o.clientMetadataUrl,
    loginCommand: o.loginCommand,
    onAuthorizationUrl: async (url) => {
      // Checked before the browser goes: a server that never grants what it asks for gets
      // no fourth authorization request.
      if (++authorizations > MAX_AUTHORIZATIONS)
        throw new Error(
          `${redactUrl(o.serverUrl)} kept refusing after ${MAX_AUTHORIZATIONS} authorizations (it asks for scopes it never grants?)`,
        );
      o.say(`Open this URL to log in (waiting for the redirect to ${loopback.redirectUrl}):\n  ${url.href}`);
      await (o.open ?? ((u) => openBrowser(u, (m) => o.say(m))))(url.href);
    },
  });
  try {
    for (;;) {
      const client = new Client({ name: CLIENT_NAME, version: '1' }, { capabilities: {} });
      const transport = new StreamableHTTPClientTransport(new URL(o.serverUrl), { authProvider: provider });
      try {
        await client.connect(transport);
        await client.listTools();
        await client.close();
        if (!provider.grant?.tokens) return { kind: 'not-required' };
        return { kind: 'logged-in', grant: provider.grant, file: provider.savedFile! };
      } catch (err) {
        await client.close().catch(() => {});
        if (!(err instanceof UnauthorizedError)) throw describeLoginError(err, o.serverUrl);
        const code = await loopback.nextCode(o.timeoutMs ?? 300_000);
        await transport.finishAuth(code);
      }
    }
  } finally {
    await loopback.close();
  }
}

function describeLoginError(err: unknown, serverUrl: string): Error {
  const message = (err as Error)?.message ?? String(err);
  return new Error(`login to ${redactUrl(serverUrl)} failed: ${message}`);
}
