import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Session ids are bearer-like secrets (docs/design.md): only this hash is stored or
 * exported. 16 hex digits of SHA-256 keep collisions negligible per upstream.
 */
export function hashSessionId(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex').slice(0, 16);
}

/** Process-wide key for caller hashes unless one is configured; keyed so a hash cannot be brute-forced back to a token. */
let callerKey: Buffer = randomBytes(32);

export function setCallerHashKey(key: string | Buffer): void {
  callerKey = typeof key === 'string' ? Buffer.from(key) : key;
}

/** Identifies a caller by its credential (or address) without keeping the credential. */
export function hashCaller(credentialOrAddress: string): string {
  return createHmac('sha256', callerKey).update(credentialOrAddress).digest('hex').slice(0, 16);
}
