import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Heal mode gives the agent a session id of the proxy's own: the upstream's first session id
 * and the `initialize` parameters that opened it, sealed (AES-256-GCM) with the heal key. Any
 * replica holding the key, and the same process after a restart, can open it and re-initialize
 * the session without a store: the downstream id carries everything a heal needs, and nothing
 * in it is readable or forgeable without the key.
 *
 * Format: `mph1.` + base64url(iv(12) | tag(16) | ciphertext), all visible ASCII as the spec asks
 * of session ids. The plaintext is JSON: `{ "u": upstream session id, "i": initialize params,
 * "p": upstream id }`. Binding the upstream id (`p`) means a sealed id minted for one upstream
 * is never opened for another.
 */
export interface SealedSession {
  /** The upstream that issued the first session. */
  upstream: string;
  /** The upstream session id the agent's session began on. */
  upstreamSessionId: string;
  /** The `params` of the agent's `initialize`, as JSON text (replayed verbatim on a heal). */
  initializeParams: string;
}

const PREFIX = 'mph1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Servers and clients cap header sizes (8-16 KB): a sealed id above this is not issued. */
export const MAX_SEALED_ID_CHARS = 4096;

export class SessionSealer {
  private readonly key: Buffer;

  /** `secret`: any string or bytes; a 256-bit key is derived from it. */
  constructor(secret: string | Buffer) {
    this.key = createHash('sha256').update('mcp-session-probe heal key v1\0').update(secret).digest();
  }

  /** The downstream session id for `session`, or null when it would be too long for a header. */
  seal(session: SealedSession): string | null {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const plain = Buffer.from(
      JSON.stringify({ p: session.upstream, u: session.upstreamSessionId, i: session.initializeParams }),
    );
    const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
    const id = PREFIX + Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
    return id.length <= MAX_SEALED_ID_CHARS ? id : null;
  }

  /**
   * What `id` seals, when it is one of ours for `upstream`; null for any other id (an id the
   * upstream issued to a client that did not come through heal mode, a forged or altered one,
   * one sealed with another key or for another upstream).
   */
  open(upstream: string, id: string): SealedSession | null {
    if (!id.startsWith(PREFIX) || id.length > MAX_SEALED_ID_CHARS) return null;
    const raw = Buffer.from(id.slice(PREFIX.length), 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      const parsed = JSON.parse(plain.toString('utf8')) as { p?: unknown; u?: unknown; i?: unknown };
      if (parsed.p !== upstream || typeof parsed.u !== 'string' || typeof parsed.i !== 'string') return null;
      return { upstream, upstreamSessionId: parsed.u, initializeParams: parsed.i };
    } catch {
      return null;
    }
  }
}
