// The passive half of credential lifetime: per upstream and credential (the `Authorization`
// an agent sends through the proxy), when the proxy first saw it, the latest request the
// upstream accepted with it, and the first 401 invalid_token. Credentials are identified by a
// keyed hash whose key lives in $MCP_PROBE_HOME (0600), so a credential keeps its hash across
// restarts and a stored hash cannot be checked against a guessed token without the key.
//
// The hot path pays one Map lookup per request: the raw credential is the key of an in-memory
// map (it is in memory anyway while the request is forwarded), hashed once per credential.
import { createHmac, randomBytes } from 'node:crypto';
import type { CredentialObservation } from '../analysis/credential.js';
import { loadKeyFile } from '../security/keyFile.js';
import { probeHome } from './tokenStore.js';

export interface WatchedCredential {
  readonly upstream: string;
  readonly credentialHash: string;
  readonly firstSeenAt: number;
  lastOkAt: number | null;
  /** lastOkAt as last persisted. */
  savedOkAt: number | null;
  firstRejectedAt: number | null;
}

export interface CredentialWatchOptions {
  key: Buffer;
  /** Where observations go (the store's `recordCredential`); must not throw. */
  persist: (obs: CredentialObservation) => void;
  now?: () => number;
  /** Credentials remembered per upstream before the oldest are forgotten. */
  maxPerUpstream?: number;
  /** lastOkAt is written at most this often per credential (a rejection always is). */
  okWriteEveryMs?: number;
}

/** RFC 6750 3.1: a presented token the server refused says `error="invalid_token"`. */
export function isInvalidTokenChallenge(wwwAuthenticate: string | null): boolean {
  return wwwAuthenticate !== null && /\berror\s*=\s*"?invalid_token"?/i.test(wwwAuthenticate);
}

/** The `WWW-Authenticate` value among raw headers (name, value, name, value, ...). */
export function wwwAuthenticateOf(rawHeaders: readonly (string | Buffer)[]): string | null {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toString('latin1').toLowerCase() === 'www-authenticate')
      return rawHeaders[i + 1]!.toString('latin1');
  return null;
}

export class CredentialWatch {
  private readonly byUpstream = new Map<string, Map<string, WatchedCredential>>();
  private readonly now: () => number;
  private readonly max: number;
  private readonly okEvery: number;

  constructor(private readonly o: CredentialWatchOptions) {
    this.now = o.now ?? Date.now;
    this.max = o.maxPerUpstream ?? 4096;
    this.okEvery = o.okWriteEveryMs ?? 5_000;
  }

  hash(credential: string): string {
    return createHmac('sha256', this.o.key).update(credential).digest('hex').slice(0, 16);
  }

  /** A request carrying `authorization` is about to go upstream. */
  seen(upstream: string, authorization: string): WatchedCredential {
    let known = this.byUpstream.get(upstream);
    if (!known) {
      known = new Map();
      this.byUpstream.set(upstream, known);
    }
    const hit = known.get(authorization);
    if (hit) return hit;
    if (known.size >= this.max) known.delete(known.keys().next().value!);
    const entry: WatchedCredential = {
      upstream,
      credentialHash: this.hash(authorization),
      firstSeenAt: this.now(),
      lastOkAt: null,
      savedOkAt: null,
      firstRejectedAt: null,
    };
    known.set(authorization, entry);
    this.save(entry);
    return entry;
  }

  /** The upstream's status and raw response headers (name, value, ...) for a request with this credential. */
  answered(entry: WatchedCredential, status: number, rawHeaders: readonly (string | Buffer)[]): void {
    if (status >= 200 && status < 300) {
      if (entry.firstRejectedAt !== null) return;
      const at = this.now();
      entry.lastOkAt = at;
      if (entry.savedOkAt === null || at - entry.savedOkAt >= this.okEvery) {
        entry.savedOkAt = at;
        this.save(entry);
      }
    } else if (
      status === 401 &&
      entry.firstRejectedAt === null &&
      isInvalidTokenChallenge(wwwAuthenticateOf(rawHeaders))
    ) {
      entry.firstRejectedAt = this.now();
      this.save(entry);
    }
  }

  private save(e: WatchedCredential): void {
    try {
      this.o.persist({
        upstream: e.upstream,
        credentialHash: e.credentialHash,
        firstSeenAt: e.firstSeenAt,
        lastOkAt: e.lastOkAt,
        firstRejectedAt: e.firstRejectedAt,
      });
    } catch {
      // Recording must never disturb forwarding.
    }
  }
}

/** The hash key in `<home>/credential-hash.key` (0600), created on first use. */
export function loadCredentialHashKey(home: string): Promise<Buffer> {
  return loadKeyFile(home, 'credential-hash.key');
}

/**
 * The proxy's watch: observations go to the store off the request path (a later turn of the
 * event loop); a store failure is logged, never felt by the request. Undefined when the store
 * cannot keep credentials.
 */
export async function watchCredentials(
  store: { recordCredential?: (obs: CredentialObservation) => Promise<void> },
  logger: { warn: (message: string, fields?: Record<string, unknown>) => void },
  now?: () => number,
  home: string = probeHome(),
): Promise<CredentialWatch | undefined> {
  const record = store.recordCredential?.bind(store);
  if (!record) return undefined;
  // A home that cannot be written (read-only container): hashes then change with each process.
  const key = await loadCredentialHashKey(home).catch(() => randomBytes(32));
  return new CredentialWatch({
    key,
    now,
    persist: (obs) =>
      setImmediate(() =>
        record(obs).catch((err: unknown) =>
          logger.warn('could not record a credential observation', { err }),
        ),
      ),
  });
}
