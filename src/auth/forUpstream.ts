// Which credential a probe of one upstream uses: `auth` from the config, else a login stored
// for its URL (`mcp-session-probe login <id>` works without an `auth` block), else none (the
// configured static headers, as before).
import type { UpstreamConfig } from '../config/schema.js';
import type { RequestAuthorizer } from './authorizer.js';
import type { TokenStore } from './tokenStore.js';

export interface AuthTarget {
  id: string;
  url: string;
  headers: Readonly<Record<string, string>>;
  auth?: UpstreamConfig['auth'];
  /** What a person runs to log in again; `mcp-session-probe login <id>` when absent. */
  loginCommand?: string;
}

export async function authorizerFor(
  u: AuthTarget,
  store: TokenStore,
  now?: () => number,
): Promise<RequestAuthorizer | null> {
  const loginCommand = u.loginCommand ?? `mcp-session-probe login ${u.id}`;
  // The SDK's auth code is loaded only when an upstream uses OAuth: `serve` starts without it.
  const load = () => import('./authorizer.js');
  if (u.auth?.type === 'client_credentials') {
    const { ClientCredentialsAuthorizer } = await load();
    return new ClientCredentialsAuthorizer({ serverUrl: u.url, upstream: u.id, auth: u.auth, now });
  }
  const login = async () => {
    const { StoredLoginAuthorizer } = await load();
    return new StoredLoginAuthorizer({ store, serverUrl: u.url, upstream: u.id, loginCommand, now });
  };
  if (u.auth?.type === 'oauth') return login();
  // A configured Authorization header is the user's choice: keep it.
  if (Object.keys(u.headers).some((h) => h.toLowerCase() === 'authorization')) return null;
  return (await store.find(u.url)) ? login() : null;
}
