// Headless credentials for every probe request: the stored login's access token, refreshed
// before it expires (one refresh at a time in this process, one at a time across processes
// through the token store's lock), or a client_credentials token fetched again when it runs
// out. What the run learns about its tokens (each `expires_in`, each refresh) is reported in
// the probe result: the active half of credential lifetime.
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import {
  ClientCredentialsProvider,
  PrivateKeyJwtProvider,
} from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { UpstreamAuth } from '../config/schema.js';
import { redactText } from '../security/redact.js';
import { AuthRequiredError, GrantProvider } from './provider.js';
import type { StoredGrant, TokenIssue, TokenStore } from './tokenStore.js';

/** What the probe result says about the credential a run used (never the token). */
export interface ProbeCredentialReport {
  kind: 'oauth' | 'client_credentials';
  issuer: string | null;
  /** Each token this run used: when it was obtained and the lifetime the server announced. */
  tokens: Array<{ obtainedAt: string; expiresInSeconds: number | null; kind: TokenIssue['kind'] }>;
  refreshes: number;
  /** Set when the run could not get a usable token. */
  authRequired: string | null;
}

export interface RequestAuthorizer {
  /** Headers for the next request; refreshes first when the token is about to expire. Throws AuthRequiredError. */
  headers(): Promise<Record<string, string>>;
  /** The upstream answered 401 to the current token: the next `headers()` refreshes. */
  rejected(): void;
  /**
   * The upstream refused a token no refresh can fix (401 to a fresh one, 403 insufficient_scope):
   * the error that ends the probe of this upstream, with what to do.
   */
  refused(reason: string): AuthRequiredError;
  report(): ProbeCredentialReport;
}

/** Refresh this long before expiry: a minute, or a quarter of a short-lived token's life. */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.min(60_000, lifetimeMs / 4);
}

function bearer(tokens: OAuthTokens): Record<string, string> {
  // RFC 6750: the scheme is "Bearer" whatever case the server wrote token_type in.
  return { authorization: `Bearer ${tokens.access_token}` };
}

abstract class BaseAuthorizer implements RequestAuthorizer {
  protected tokens: OAuthTokens | null = null;
  protected obtainedAt = 0;
  protected expiresAt: number | null = null;
  protected stale = false;
  private inflight: Promise<void> | null = null;
  protected readonly used: ProbeCredentialReport;

  constructor(
    protected readonly now: () => number,
    kind: ProbeCredentialReport['kind'],
  ) {
    this.used = { kind, issuer: null, tokens: [], refreshes: 0, authRequired: null };
  }

  protected abstract obtain(): Promise<void>;

  private fresh(): boolean {
    if (!this.tokens || this.stale) return false;
    if (this.expiresAt === null) return true;
    return this.expiresAt - this.now() > refreshMarginMs(this.expiresAt - this.obtainedAt);
  }

  async headers(): Promise<Record<string, string>> {
    if (!this.fresh()) {
      this.inflight ??= this.obtain()
        .catch((err: unknown) => {
          const e =
            err instanceof AuthRequiredError
              ? err
              : new AuthRequiredError(this.describe(err), this.loginCommand());
          this.used.authRequired = e.message;
          throw e;
        })
        .finally(() => {
          this.inflight = null;
        });
      await this.inflight;
    }
    return bearer(this.tokens!);
  }

  rejected(): void {
    this.stale = true;
  }

  refused(reason: string): AuthRequiredError {
    const e = new AuthRequiredError(redactText(reason, { maxLength: 300 }), this.loginCommand());
    this.used.authRequired = e.message;
    return e;
  }

  report(): ProbeCredentialReport {
    return structuredClone(this.used);
  }

  protected adopt(
    tokens: OAuthTokens,
    obtainedAt: number,
    expiresAt: number | null,
    kind: TokenIssue['kind'],
  ) {
    const changed = this.tokens?.access_token !== tokens.access_token;
    this.tokens = tokens;
    this.obtainedAt = obtainedAt;
    this.expiresAt = expiresAt;
    this.stale = false;
    if (changed) {
      if (this.used.tokens.length > 0) this.used.refreshes++;
      this.used.tokens.push({
        obtainedAt: new Date(obtainedAt).toISOString(),
        expiresInSeconds: expiresAt === null ? null : Math.round(expiresAt - obtainedAt) / 1000,
        kind,
      });
    }
  }

  protected describe(err: unknown): string {
    return `could not get a token: ${redactText((err as Error)?.message ?? String(err), { maxLength: 200 })}`;
  }

  protected abstract loginCommand(): string;
}

export interface OAuthAuthorizerOptions {
  store: TokenStore;
  serverUrl: string;
  upstream: string | null;
  /** `mcp-session-probe login linear`. */
  loginCommand: string;
  now?: () => number;
}

/** A login stored by `mcp-session-probe login`, refreshed with its refresh token. */
export class StoredLoginAuthorizer extends BaseAuthorizer {
  private file: string | null = null;

  constructor(private readonly o: OAuthAuthorizerOptions) {
    super(o.now ?? Date.now, 'oauth');
  }

  protected loginCommand(): string {
    return this.o.loginCommand;
  }

  private take(grant: StoredGrant, file: string): void {
    this.file = file;
    this.used.issuer = grant.issuer;
    const last = grant.issues.at(-1);
    this.adopt(grant.tokens!, grant.obtainedAt, grant.expiresAt, last?.kind ?? 'login');
  }

  private usable(grant: StoredGrant | null): boolean {
    if (!grant?.tokens?.access_token) return false;
    if (this.stale && grant.tokens.access_token === this.tokens?.access_token) return false;
    if (grant.expiresAt === null) return true;
    return grant.expiresAt - this.now() > refreshMarginMs(grant.expiresAt - grant.obtainedAt);
  }

  protected async obtain(): Promise<void> {
    const found = this.file
      ? { file: this.file, grant: await this.o.store.readFile(this.file) }
      : await this.o.store.find(this.o.serverUrl);
    if (!found?.grant)
      throw new AuthRequiredError(`no stored login for ${this.o.serverUrl}`, this.o.loginCommand);
    // Another process may have refreshed already: take its token instead of refreshing again.
    if (this.usable(found.grant)) return this.take(found.grant!, found.file);
    await this.o.store.withLock(found.file, async () => {
      const grant = await this.o.store.readFile(found.file);
      if (!grant)
        throw new AuthRequiredError(`the stored login for ${this.o.serverUrl} is gone`, this.o.loginCommand);
      if (this.usable(grant)) return this.take(grant, found.file);
      if (!grant.tokens?.refresh_token)
        throw new AuthRequiredError(
          `the access token for ${this.o.serverUrl} has expired and the server gave no refresh token`,
          this.o.loginCommand,
        );
      const provider = new GrantProvider({
        store: this.o.store,
        serverUrl: this.o.serverUrl,
        upstream: this.o.upstream,
        grant,
        loginCommand: this.o.loginCommand,
        now: this.now,
      });
      try {
        // With the discovery state stored, `auth()` goes straight to the token endpoint.
        await auth(provider, { serverUrl: this.o.serverUrl });
      } catch (err) {
        await this.o.store.write({ ...grant, refreshFailedAt: this.now() }).catch(() => {});
        if (err instanceof AuthRequiredError) throw err;
        throw new AuthRequiredError(
          `refreshing the login for ${this.o.serverUrl} failed (${redactText((err as Error).message, { maxLength: 160 })})`,
          this.o.loginCommand,
        );
      }
      const refreshed = provider.grant;
      if (!refreshed?.tokens)
        throw new AuthRequiredError(`the refresh returned no token`, this.o.loginCommand);
      this.take(refreshed, found.file);
    });
  }
}

/** Machine-to-machine: a client_credentials grant, fetched again before the token runs out. */
export class ClientCredentialsAuthorizer extends BaseAuthorizer {
  constructor(
    private readonly o: {
      serverUrl: string;
      upstream: string;
      auth: Extract<UpstreamAuth, { type: 'client_credentials' }>;
      now?: () => number;
    },
  ) {
    super(o.now ?? Date.now, 'client_credentials');
  }

  protected loginCommand(): string {
    return `check upstreams "${this.o.upstream}" auth.clientId and its secret or key in the config`;
  }

  protected async obtain(): Promise<void> {
    const a = this.o.auth;
    const scope = a.scopes?.join(' ');
    const provider = a.privateKey
      ? new PrivateKeyJwtProvider({
          clientId: a.clientId,
          privateKey: a.privateKey,
          algorithm: a.algorithm,
          scope,
        })
      : new ClientCredentialsProvider({ clientId: a.clientId, clientSecret: a.clientSecret!, scope });
    const at = this.now();
    await auth(provider, { serverUrl: this.o.serverUrl });
    const tokens = provider.tokens();
    if (!tokens) throw new Error('the token endpoint returned no token');
    const issuer = (tokens as { issuer?: string }).issuer ?? null;
    this.used.issuer = issuer;
    const expiresIn =
      typeof tokens.expires_in === 'number' && tokens.expires_in > 0 ? tokens.expires_in : null;
    this.adopt(tokens, at, expiresIn === null ? null : at + expiresIn * 1000, 'client_credentials');
  }
}
