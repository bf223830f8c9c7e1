// `mcp-session-probe login`: the SDK's own client drives the MCP connection, and its
// transport answers 401 (and 403 insufficient_scope) by calling `auth()`, which discovers,
// registers and sends the browser to the authorization server. We open the browser, wait
// for the loopback redirect, hand the code back (`finishAuth`) and connect again, until
// `initialize` and `tools/list` both succeed with the new token. A 403 insufficient_scope
// steps up: the next authorization asks for the granted scopes plus the challenge's.
// Streamable HTTP first; a server that refuses the POST as a legacy HTTP+SSE server would is
// logged in over the SDK's SSE transport instead.
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { redactUrl } from '../security/redact.js';
import { openBrowser } from './browser.js';
import { insufficientScope } from './challenge.js';
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
  /** `sse`: the server speaks only legacy HTTP+SSE (else found out when Streamable HTTP is refused). */
  transport?: 'streamable-http' | 'sse';
  /** Continue from a stored login (its client registration and tokens) instead of starting afresh. */
  grant?: StoredGrant | null;
  /** What the authorized connection must do before the login counts; default `tools/list`. */
  use?: (client: Client) => Promise<unknown>;
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
    grant: o.grant,
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
  // Sees every answer the transport gets: a 403 insufficient_scope makes the provider step up
  // before the SDK calls `auth()` (which would otherwise refresh the too-narrow grant).
  const fetchWatchingScope: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const scope = insufficientScope(response.status, response.headers.get('www-authenticate'));
    if (scope !== null) provider.stepUp(scope);
    return response;
  };
  let legacy = o.transport === 'sse';
  const use = o.use ?? ((client: Client) => client.listTools());
  try {
    for (;;) {
      const client = new Client({ name: CLIENT_NAME, version: '1' }, { capabilities: {} });
      const options = { authProvider: provider, fetch: fetchWatchingScope };
      const transport = legacy
        ? new SSEClientTransport(new URL(o.serverUrl), options)
        : new StreamableHTTPClientTransport(new URL(o.serverUrl), options);
      try {
        await client.connect(transport);
        await use(client);
        await client.close();
        const grant = provider.grant;
        if (!grant?.tokens) return { kind: 'not-required' };
        // A stored login that needed no new token stays where it was.
        const file = provider.savedFile ?? o.store.fileFor(grant.serverUrl, grant.issuer);
        return { kind: 'logged-in', grant, file };
      } catch (err) {
        await client.close().catch(() => {});
        if (!legacy && refusedAsLegacy(err)) {
          legacy = true;
          continue;
        }
        if (!(err instanceof UnauthorizedError)) throw describeLoginError(err, o.serverUrl);
        const code = await loopback.nextCode(o.timeoutMs ?? 300_000);
        await transport.finishAuth(code);
      }
    }
  } finally {
    await loopback.close();
  }
}

/** A legacy HTTP+SSE server answers a Streamable HTTP POST to its stream URL with 400, 404 or 405. */
function refusedAsLegacy(err: unknown): boolean {
  return err instanceof StreamableHTTPError && [400, 404, 405].includes(err.code ?? 0);
}

function describeLoginError(err: unknown, serverUrl: string): Error {
  const message = (err as Error)?.message ?? String(err);
  return new Error(`login to ${redactUrl(serverUrl)} failed: ${message}`);
}
