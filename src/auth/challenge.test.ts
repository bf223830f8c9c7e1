import { describe, expect, it } from 'vitest';
import { insufficientScope, unionOfScopes } from './challenge.js';

describe('insufficientScope', () => {
  it('reads the scope of a 403 insufficient_scope challenge, quoted or not, in any parameter order', () => {
    const h =
      'Bearer scope="mcp:basic mcp:write", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp", error="insufficient_scope"';
    expect(insufficientScope(403, h)).toBe('mcp:basic mcp:write');
    expect(insufficientScope(403, 'Bearer error=insufficient_scope, scope=files:read')).toBe('files:read');
    expect(insufficientScope(403, 'Bearer error="insufficient_scope"')).toBe('');
  });

  it('is null for anything else: another status, another error, no challenge', () => {
    expect(insufficientScope(401, 'Bearer error="insufficient_scope", scope="a"')).toBeNull();
    expect(insufficientScope(403, 'Bearer error="invalid_token", scope="a"')).toBeNull();
    // A parameter whose name merely ends in "error" is not the error.
    expect(insufficientScope(403, 'Bearer x_error="insufficient_scope"')).toBeNull();
    expect(insufficientScope(403, null)).toBeNull();
  });
});

describe('unionOfScopes', () => {
  it('keeps what was granted and adds what the challenge names, once each', () => {
    expect(unionOfScopes('mcp:basic', 'mcp:basic mcp:write')).toBe('mcp:basic mcp:write');
    expect(unionOfScopes(null, '', 'a  b', undefined, 'b c')).toBe('a b c');
  });
});
