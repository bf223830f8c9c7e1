// The SDK's OAuthClientProvider over one stored grant. The SDK's `auth()` does discovery
// (RFC 9728, RFC 8414 and the 2025-03-26 fallbacks), registration (CIMD when the server
// supports it, dynamic registration otherwise), PKCE, the `resource` indicator, scope
// selection and refresh; this class only keeps what it hands over, in memory until a token
// arrives, then in the token store.
import type { OAuthClientProvider, OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { unionOfScopes } from './challenge.js';
import {
  canonicalServerUrl,
  type StoredGrant,
  type TokenIssue,
  type TokenStore,
  withTokens,
} from './tokenStore.js';

export const CLIENT_NAME = 'mcp-session-probe';

/** The stored login cannot be used without the user: the run says what to do. */
export class AuthRequiredError extends Error {
  override readonly name = 'AuthRequiredError';
  constructor(
    readonly reason: string,
    /** `mcp-session-probe login linear` or `... login --url URL`. */
    readonly loginCommand: string,
  ) {
    super(`auth_required: ${reason}; run: ${loginCommand}`);
  }
}

export interface GrantProviderOptions {
  store: TokenStore;
  serverUrl: string;
  upstream: string | null;
  /** The loopback redirect (login); absent when refreshing headlessly. */
  redirectUrl?: string;
  state?: string;
  scopes?: readonly string[];
  clientId?: string;
  clientSecret?: string;
  clientMetadataUrl?: string;
  /** Called with the authorization URL (login); headless providers throw instead. */
  onAuthorizationUrl?: (url: URL) => Promise<void>;
  loginCommand: string;
  /** The grant to continue from (headless refresh). */
  grant?: StoredGrant | null;
  now?: () => number;
}

/** Every method the SDK calls, kept in memory, persisted when tokens arrive. */
export class GrantProvider implements OAuthClientProvider {
  private client: OAuthClientInformationMixed | null;
  private current: StoredGrant | null;
  private verifier = '';
  private discovery: OAuthDiscoveryState | null;
  private readonly now: () => number;
  /** The scope of the latest authorization request. */
  private requestedScope: string | null = null;
  /** Set by a 403 insufficient_scope: what the next authorization request asks for at least. */
  private stepUpScope: string | null = null;
  /** The file the latest tokens were written to. */
  savedFile: string | null = null;

  constructor(private readonly o: GrantProviderOptions) {
    this.current = o.grant ?? null;
    this.discovery = o.grant?.discoveryState ?? null;
    this.client =
      o.grant?.clientInformation ??
      (o.clientId
        ? { client_id: o.clientId, ...(o.clientSecret ? { client_secret: o.clientSecret } : {}) }
        : null);
    this.now = o.now ?? Date.now;
  }

  get grant(): StoredGrant | null {
    return this.current;
  }

  get redirectUrl(): string {
    // Headless: the registered redirect (never used: a refresh needs none, and a new
    // authorization throws AuthRequiredError), so that the SDK treats this as the same client.
    const registered = (this.client as { redirect_uris?: string[] } | null)?.redirect_uris?.[0];
    return this.o.redirectUrl ?? registered ?? 'http://127.0.0.1/callback';
  }

  get clientMetadataUrl(): string | undefined {
    return this.o.clientMetadataUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.o.clientSecret ? 'client_secret_basic' : 'none',
      ...(this.o.scopes?.length ? { scope: this.o.scopes.join(' ') } : {}),
    };
  }

  state(): string {
    return this.o.state ?? '';
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client ?? undefined;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.client = info;
  }

  tokens(): OAuthTokens | undefined {
    return this.current?.tokens ?? undefined;
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    const issuer =
      (tokens as { issuer?: string }).issuer ??
      this.discovery?.authorizationServerUrl ??
      this.current?.issuer;
    if (!issuer) throw new Error('tokens arrived before discovery named an authorization server');
    const kind: TokenIssue['kind'] =
      this.current?.tokens?.refresh_token && !this.o.onAuthorizationUrl ? 'refresh' : 'login';
    const base: StoredGrant = this.current ?? {
      version: 1,
      serverUrl: canonicalServerUrl(this.o.serverUrl),
      upstream: this.o.upstream,
      issuer,
      clientInformation: null,
      tokens: null,
      obtainedAt: this.now(),
      expiresAt: null,
      issues: [],
      discoveryState: null,
      refreshFailedAt: null,
    };
    this.current = withTokens(
      {
        ...base,
        issuer,
        upstream: this.o.upstream ?? base.upstream,
        clientInformation: this.client,
        discoveryState: this.discovery,
      },
      tokens,
      this.now(),
      kind,
    );
    this.savedFile = await this.o.store.write(this.current);
  }

  /**
   * The server refused a request for want of scope (403 insufficient_scope). A refresh cannot
   * widen a grant, so the tokens are set aside (the SDK's `auth()` then starts an authorization
   * instead of refreshing) and the next authorization asks for the scopes granted so far plus
   * those the challenge names: stepping up must not lose what the earlier grant allowed.
   */
  stepUp(challengeScope: string): void {
    this.stepUpScope = unionOfScopes(this.current?.tokens?.scope ?? this.requestedScope, challengeScope);
    if (this.current) this.current = { ...this.current, tokens: null };
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    if (this.stepUpScope) {
      url.searchParams.set('scope', unionOfScopes(this.stepUpScope, url.searchParams.get('scope')));
      this.stepUpScope = null;
    }
    this.requestedScope = url.searchParams.get('scope');
    if (!this.o.onAuthorizationUrl)
      throw new AuthRequiredError(
        this.o.grant?.tokens?.refresh_token
          ? `the stored login for ${this.o.serverUrl} could not be refreshed (the authorization server refused its refresh token)`
          : `the stored login for ${this.o.serverUrl} has expired and has no refresh token`,
        this.o.loginCommand,
      );
    await this.o.onAuthorizationUrl(url);
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    return this.verifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this.client = null;
    if ((scope === 'all' || scope === 'tokens') && this.current)
      this.current = { ...this.current, tokens: null };
    if (scope === 'all' || scope === 'discovery') this.discovery = null;
    if (scope === 'verifier') this.verifier = '';
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery ?? undefined;
  }
}
