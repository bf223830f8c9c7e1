// What to tell a person whose upstream refused the probe's `initialize` with 401/403.
import type { RequestAuthorizer } from '../auth/authorizer.js';
import { AuthRequiredError } from '../auth/provider.js';

export interface CredentialInUse {
  /** The stored login (or client credentials) the probe sent, if any. */
  auth?: RequestAuthorizer | null;
  /** The configured headers. */
  headers: Readonly<Record<string, string>>;
  /** `mcp-session-probe login linear`. */
  loginCommand?: string;
}

/**
 * Static `Authorization` headers are the config's to fix. Otherwise the upstream wants a login:
 * with a stored one (whose token the wire already refreshed once) or without, the answer is
 * `auth_required` and the command to run, never advice about headers nobody configured.
 */
export function authRefusal(c: CredentialInUse, refusal: string): string {
  if (c.auth) return c.auth.refused(`the upstream refused the probe's OAuth token (${refusal})`).message;
  const configured = Object.keys(c.headers).some((h) => h.toLowerCase() === 'authorization');
  if (configured || !c.loginCommand)
    return `${refusal}; check the upstream headers (Authorization) in the config`;
  return new AuthRequiredError(`the upstream asks for authorization (${refusal})`, c.loginCommand).message;
}
