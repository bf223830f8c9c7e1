// Which credential a probe of one upstream uses: `auth` from the config, else a login stored
// for its URL (`mcp-session-probe login <id>` works without an `auth` block), else none (the
// configured static headers, as before).
import type { UpstreamConfig } from '../config/schema.js';
import { ClientCredentialsAuthorizer, type RequestAuthorizer, StoredLoginAuthorizer } from './authorizer.js';
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
  if (u.auth?.type === 'client_credentials')
    return new ClientCredentialsAuthorizer({ serverUrl: u.url, upstream: u.id, auth: u.auth, now });
  const login = () =>
    new StoredLoginAuthorizer({ store, serverUrl: u.url, upstream: u.id, loginCommand, now });
  if (u.auth?.type === 'oauth') return login();
  // A configured Authorization header is the user's choice: keep it.
  if (Object.keys(u.headers).some((h) => h.toLowerCase() === 'authorization')) return null;
  return (await store.find(u.url)) ? login() : null;
}
