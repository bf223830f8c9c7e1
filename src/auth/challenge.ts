// What a `WWW-Authenticate: Bearer ...` challenge asks for (RFC 6750 3.1, MCP step-up
// authorization): a 403 with `error="insufficient_scope"` names, in `scope`, the scopes the
// refused request needs. Kept free of the SDK so the prober's wire can read it without loading
// the SDK's auth code.

/** Reads one auth-param (`name="value"` or `name=token`) of a challenge. */
function param(challenge: string, name: string): string | null {
  const m = new RegExp(`(?:^|[\\s,])${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^\\s,]+))`, 'i').exec(
    challenge,
  );
  if (!m) return null;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
}

/** The scope a 403 `insufficient_scope` challenge asks for ('' when it names none); null for any other answer. */
export function insufficientScope(status: number, wwwAuthenticate: string | null | undefined): string | null {
  if (status !== 403 || !wwwAuthenticate) return null;
  if (param(wwwAuthenticate, 'error')?.toLowerCase() !== 'insufficient_scope') return null;
  return param(wwwAuthenticate, 'scope') ?? '';
}

/** Space-separated scope lists joined without repeats, in first-seen order. */
export function unionOfScopes(...lists: Array<string | null | undefined>): string {
  const seen = new Set<string>();
  for (const list of lists) for (const s of list?.split(/\s+/) ?? []) if (s) seen.add(s);
  return [...seen].join(' ');
}
