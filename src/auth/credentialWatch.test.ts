import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CredentialObservation } from '../analysis/credential.js';
import { CredentialWatch, isInvalidTokenChallenge, loadCredentialHashKey } from './credentialWatch.js';

function watch(now: { t: number }) {
  const saved: CredentialObservation[] = [];
  const w = new CredentialWatch({
    key: Buffer.alloc(32, 1),
    now: () => now.t,
    persist: (o) => saved.push(o),
    okWriteEveryMs: 5_000,
    maxPerUpstream: 2,
  });
  return { w, saved };
}
const INVALID = ['WWW-Authenticate', 'Bearer error="invalid_token", error_description="expired"'];

describe('CredentialWatch', () => {
  it('records first sight, throttled acceptances and the first invalid_token refusal, by keyed hash', () => {
    const now = { t: 1_000 };
    const { w, saved } = watch(now);
    const e = w.seen('linear', 'Bearer secret-1');
    expect(w.seen('linear', 'Bearer secret-1')).toBe(e);
    expect(e.credentialHash).toMatch(/^[0-9a-f]{16}$/);
    w.answered(e, 200, []);
    now.t = 3_000;
    w.answered(e, 200, []); // within 5 s of the last write: kept in memory only
    now.t = 9_000;
    w.answered(e, 401, ['content-type', 'application/json', ...INVALID]);
    now.t = 9_500;
    w.answered(e, 401, INVALID); // only the first refusal counts
    w.answered(e, 200, []); // after the refusal: not an acceptance of this credential
    expect(saved.map((s) => [s.firstSeenAt, s.lastOkAt, s.firstRejectedAt])).toEqual([
      [1_000, null, null],
      [1_000, 1_000, null],
      [1_000, 3_000, 9_000],
    ]);
    expect(JSON.stringify(saved)).not.toContain('secret-1');
  });

  it('a 401 without invalid_token (a session error, a missing scope) is not a credential refusal', () => {
    const { w, saved } = watch({ t: 0 });
    const e = w.seen('u', 'Bearer x');
    w.answered(e, 401, ['content-type', 'application/json']);
    w.answered(e, 403, ['www-authenticate', 'Bearer error="insufficient_scope"']);
    expect(saved.at(-1)?.firstRejectedAt).toBeNull();
    expect(isInvalidTokenChallenge('Bearer realm="x", error=invalid_token')).toBe(true);
    expect(isInvalidTokenChallenge('Bearer realm="x"')).toBe(false);
  });

  it('remembers a bounded number of credentials per upstream', () => {
    const { w } = watch({ t: 0 });
    const a = w.seen('u', 'a');
    w.seen('u', 'b');
    w.seen('u', 'c');
    expect(w.seen('u', 'a')).not.toBe(a); // forgotten, seen afresh
  });

  it('keeps its hash key in a 0600 file, the same for every process', async () => {
    const home = await mkdtemp(join(tmpdir(), 'cred-key-'));
    try {
      const [k1, k2] = await Promise.all([loadCredentialHashKey(home), loadCredentialHashKey(home)]);
      expect(k1.equals(k2)).toBe(true);
      expect((await loadCredentialHashKey(home)).equals(k1)).toBe(true);
      expect((await stat(join(home, 'credential-hash.key'))).mode & 0o777).toBe(0o600);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
