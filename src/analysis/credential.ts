// Credential lifetime (docs/design.md, "The lifetime estimate": `credential`): how long an upstream
// accepts one credential, kept apart from how long it keeps an idle session. Passively, per
// credential (keyed hash) the proxy saw: its age at the last accepted request is a survival,
// its age at the first 401 invalid_token an expiry; the window is the session window's rule
// over those ages. Actively, the probe's token responses announce lifetimes (`expires_in`).
import { windowOf } from './lifetime.js';

/** One credential as the store keeps it (never the credential, only its keyed hash). */
export interface CredentialObservation {
  upstream: string;
  credentialHash: string;
  firstSeenAt: number;
  /** The latest request the upstream accepted with it (2xx). */
  lastOkAt: number | null;
  /** The first 401 invalid_token it got. */
  firstRejectedAt: number | null;
}

/** A token the probe obtained (probe result `credential.tokens`). */
export interface AnnouncedToken {
  expiresInSeconds: number | null;
  kind: string;
}

export interface CredentialLifetime {
  /** Largest age at which a credential was still accepted, below every rejection. */
  lowerBoundSeconds: number | null;
  /** Smallest age at which a credential was refused, above every acceptance. */
  upperBoundSeconds: number | null;
  /** Credentials seen (each gives a survival, a rejection or both). */
  observations: number;
  rejections: number;
  /** Shortest `expires_in` the authorization server announced to the probe; null when none. */
  announcedSeconds: number | null;
  /** Token refreshes the probe made. */
  refreshes: number;
}

const seconds = (ms: number | null) => (ms === null ? null : Math.round(ms) / 1000);

export function credentialLifetime(
  observed: readonly CredentialObservation[],
  announced: readonly AnnouncedToken[] = [],
): CredentialLifetime {
  const points: Array<readonly [number, boolean]> = [];
  let rejections = 0;
  for (const c of observed) {
    if (c.firstRejectedAt !== null) {
      rejections++;
      points.push([c.firstRejectedAt - c.firstSeenAt, true]);
    }
    // Accepted requests after the first rejection are another token reusing the hash: ignored.
    if (c.lastOkAt !== null && (c.firstRejectedAt === null || c.lastOkAt < c.firstRejectedAt))
      points.push([c.lastOkAt - c.firstSeenAt, false]);
  }
  const w = windowOf(points);
  const lifetimes = announced.map((t) => t.expiresInSeconds).filter((s): s is number => s !== null);
  return {
    lowerBoundSeconds: seconds(w.lowerMs),
    upperBoundSeconds: seconds(w.upperMs),
    observations: observed.length,
    rejections,
    announcedSeconds: lifetimes.length ? Math.min(...lifetimes) : null,
    refreshes: announced.filter((t) => t.kind === 'refresh').length,
  };
}

/**
 * What the answer says about credentials: a pool TTL longer than a credential lives is
 * pointless (the session outlives the token that opened it), and 401s are credential expiry,
 * not session expiry. Null when nothing about credentials is known.
 */
export function credentialNote(c: CredentialLifetime, poolIdleTtlSeconds: number | null): string | null {
  const life = c.upperBoundSeconds ?? c.announcedSeconds;
  const parts: string[] = [];
  if (c.rejections > 0)
    parts.push(
      `${c.rejections} credential${c.rejections === 1 ? '' : 's'} got 401 invalid_token after ${c.upperBoundSeconds === null ? 'a while' : `at most ${c.upperBoundSeconds}s`}: credential expiry, not session expiry`,
    );
  if (c.announcedSeconds !== null)
    parts.push(`the authorization server announces tokens for ${c.announcedSeconds}s`);
  if (life !== null && poolIdleTtlSeconds !== null && poolIdleTtlSeconds > life)
    parts.push(
      `a pool TTL of ${poolIdleTtlSeconds}s outlives the ${life}s a credential lives: refresh tokens before ${life}s or retire sessions with their credential`,
    );
  return parts.length ? parts.join('; ') : null;
}

/** The tokens the probe runs of one upstream obtained (probe result `results[].credential.tokens`). */
export function announcedTokens(
  runs: ReadonlyArray<{ result: unknown }>,
  upstream: string,
): AnnouncedToken[] {
  const out: AnnouncedToken[] = [];
  for (const run of runs) {
    const results = (run.result as { results?: unknown } | null)?.results;
    if (!Array.isArray(results)) continue;
    for (const r of results as Array<{ upstream?: unknown; credential?: { tokens?: unknown } | null }>) {
      if (r?.upstream !== upstream || !Array.isArray(r.credential?.tokens)) continue;
      for (const t of r.credential.tokens as Array<Partial<AnnouncedToken>>)
        out.push({
          expiresInSeconds: typeof t.expiresInSeconds === 'number' ? t.expiresInSeconds : null,
          kind: typeof t.kind === 'string' ? t.kind : 'unknown',
        });
    }
  }
  return out;
}

/** Adds `lifetime.credential` to a report entry, and what it means for the pool to the reason. */
export function withCredential<
  T extends { lifetime: object; recommendation: { poolIdleTtlSeconds: number | null; reason: string } },
>(entry: T, credential: CredentialLifetime): T & { lifetime: { credential: CredentialLifetime } } {
  const note = credentialNote(credential, entry.recommendation.poolIdleTtlSeconds);
  return {
    ...entry,
    lifetime: { ...entry.lifetime, credential },
    recommendation: note
      ? { ...entry.recommendation, reason: `${entry.recommendation.reason}. Credentials: ${note}` }
      : entry.recommendation,
  };
}
