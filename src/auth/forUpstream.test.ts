import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { authorizerFor } from './forUpstream.js';
import { AuthRequiredError } from './provider.js';
import { TokenStore } from './tokenStore.js';

describe('authorizerFor', () => {
  it('an oauth upstream without a stored login is auth_required, naming the login command for its id', async () => {
    const home = await mkdtemp(join(tmpdir(), 'for-upstream-'));
    try {
      const store = new TokenStore(home);
      const u = {
        id: 'linear',
        url: 'https://mcp.linear.app/mcp',
        headers: {},
        auth: { type: 'oauth' as const },
      };
      const auth = await authorizerFor(u, store);
      const err = await auth!.headers().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthRequiredError);
      expect((err as Error).message).toBe(
        'auth_required: no stored login for https://mcp.linear.app/mcp; run: mcp-session-probe login linear',
      );
      expect(auth!.report().authRequired).toBe((err as Error).message);
      // No auth block, no stored login: static headers (or none), as before.
      expect(await authorizerFor({ ...u, auth: undefined }, store)).toBeNull();
      // A configured Authorization header is kept even when a login is stored.
      expect(
        await authorizerFor({ ...u, auth: undefined, headers: { Authorization: 'Bearer x' } }, store),
      ).toBeNull();
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
