import { describe, expect, it } from 'vitest';
import { announcedTokens, credentialLifetime, credentialNote, withCredential } from './credential.js';

const c = (firstSeenAt: number, lastOkAt: number | null, firstRejectedAt: number | null) => ({
  upstream: 'u',
  credentialHash: `h${firstSeenAt}`,
  firstSeenAt,
  lastOkAt,
  firstRejectedAt,
});

describe('credentialLifetime', () => {
  it('is the window between the oldest accepted age and the youngest refused one', () => {
    const w = credentialLifetime([c(0, 1_000, 2_200), c(10_000, 11_500, 12_100), c(20_000, 20_500, null)]);
    expect(w).toMatchObject({
      lowerBoundSeconds: 1.5,
      upperBoundSeconds: 2.1,
      observations: 3,
      rejections: 2,
    });
  });

  it('with no refusal: a lower bound only (censored, never a predicted expiry)', () => {
    expect(credentialLifetime([c(0, 30_000, null)])).toMatchObject({
      lowerBoundSeconds: 30,
      upperBoundSeconds: null,
      rejections: 0,
    });
  });

  it('ignores acceptances after a refusal (another token of the same hash cannot be told apart)', () => {
    expect(credentialLifetime([c(0, 9_000, 2_000)])).toMatchObject({
      lowerBoundSeconds: null,
      upperBoundSeconds: 2,
    });
  });

  it('takes the shortest lifetime the probe was announced and counts its refreshes', () => {
    const runs = [
      {
        result: {
          results: [
            {
              upstream: 'u',
              credential: {
                tokens: [
                  { expiresInSeconds: 3600, kind: 'login' },
                  { expiresInSeconds: 1800, kind: 'refresh' },
                ],
              },
            },
            { upstream: 'other', credential: { tokens: [{ expiresInSeconds: 5, kind: 'login' }] } },
          ],
        },
      },
      { result: null },
    ];
    const w = credentialLifetime([], announcedTokens(runs, 'u'));
    expect(w).toMatchObject({ announcedSeconds: 1800, refreshes: 1, observations: 0 });
  });
});

describe('credentialNote', () => {
  it('names a 401 as credential expiry and a pool TTL longer than a credential lives as pointless', () => {
    const w = credentialLifetime([c(0, 1_000, 2_000)]);
    const note = credentialNote(w, 600);
    expect(note).toContain('credential expiry, not session expiry');
    expect(note).toContain('a pool TTL of 600s outlives the 2s a credential lives');
    expect(credentialNote(credentialLifetime([]), 600)).toBeNull();
    expect(credentialNote(w, 1)).not.toContain('outlives');
  });

  it('withCredential adds lifetime.credential and the note to the reason', () => {
    const entry = {
      lifetime: { basis: 'idle' },
      recommendation: { poolIdleTtlSeconds: 600, reason: 'pool it' },
    };
    const out = withCredential(entry, credentialLifetime([], [{ expiresInSeconds: 300, kind: 'login' }]));
    expect(out.lifetime.credential.announcedSeconds).toBe(300);
    expect(out.recommendation.reason).toMatch(
      /^pool it\. Credentials: .*announces tokens for 300s.*outlives the 300s/,
    );
  });
});
