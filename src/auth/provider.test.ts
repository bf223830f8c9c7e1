import { describe, expect, it } from 'vitest';
import { GrantProvider } from './provider.js';
import type { StoredGrant, TokenStore } from './tokenStore.js';

const grant: StoredGrant = {
  version: 1,
  serverUrl: 'https://mcp.example.com/mcp',
  upstream: 'example',
  issuer: 'https://auth.example.com',
  clientInformation: { client_id: 'c1' },
  tokens: { access_token: 'at', token_type: 'Bearer', refresh_token: 'rt', scope: 'files:read' },
  obtainedAt: 0,
  expiresAt: null,
  issues: [],
  discoveryState: null,
  refreshFailedAt: null,
};

describe('GrantProvider.stepUp', () => {
  it('sets the narrow tokens aside (no refresh) and asks for the granted scopes plus the challenge’s', async () => {
    const opened: string[] = [];
    const provider = new GrantProvider({
      store: {} as TokenStore, // nothing is written before a token arrives
      serverUrl: grant.serverUrl,
      upstream: 'example',
      grant,
      redirectUrl: 'http://127.0.0.1:5000/callback',
      loginCommand: 'mcp-session-probe login example',
      onAuthorizationUrl: async (url) => {
        opened.push(url.searchParams.get('scope') ?? '');
      },
    });
    expect(provider.tokens()?.refresh_token).toBe('rt');
    provider.stepUp('files:write');
    // Without tokens the SDK's auth() cannot refresh: it starts an authorization instead.
    expect(provider.tokens()).toBeUndefined();
    await provider.redirectToAuthorization(new URL('https://auth.example.com/authorize?scope=files%3Awrite'));
    expect(opened).toEqual(['files:read files:write']);
    // Once only: a later authorization asks for what the SDK chose.
    await provider.redirectToAuthorization(new URL('https://auth.example.com/authorize?scope=x'));
    expect(opened.at(-1)).toBe('x');
  });
});
