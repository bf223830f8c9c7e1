import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveHealKey } from './healKey.js';
import { MAX_SEALED_ID_CHARS, SessionSealer } from './sealedSessionId.js';

const session = {
  upstream: 'linear',
  upstreamSessionId: 'c0ffee-1234',
  initializeParams: JSON.stringify({
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'x', version: '1' },
  }),
};

describe('SessionSealer', () => {
  it('opens what it sealed, for the same upstream only', () => {
    const sealer = new SessionSealer('k'.repeat(32));
    const id = sealer.seal(session)!;
    expect(id).toMatch(/^mph1\.[A-Za-z0-9_-]+$/);
    expect(id).not.toContain(session.upstreamSessionId);
    expect(sealer.open('linear', id)).toEqual(session);
    expect(sealer.open('slack', id)).toBeNull();
  });

  it('seals the same session differently each time (random IV)', () => {
    const sealer = new SessionSealer('k');
    expect(sealer.seal(session)).not.toBe(sealer.seal(session));
  });

  it('refuses ids sealed with another key, plain upstream ids and any altered byte', () => {
    const a = new SessionSealer('key-a');
    const b = new SessionSealer('key-b');
    const id = a.seal(session)!;
    expect(b.open('linear', id)).toBeNull();
    expect(a.open('linear', 'c0ffee-1234')).toBeNull();
    expect(a.open('linear', 'mph1.')).toBeNull();
    fc.assert(
      fc.property(fc.integer({ min: 5, max: id.length - 1 }), fc.constantFrom(...'AbZ09-_'), (at, ch) => {
        fc.pre(id[at] !== ch);
        const altered = id.slice(0, at) + ch + id.slice(at + 1);
        // A different base64url character at the very end may decode to the same bytes.
        const same = Buffer.from(altered.slice(5), 'base64url').equals(Buffer.from(id.slice(5), 'base64url'));
        expect(a.open('linear', altered) === null).toBe(!same);
      }),
    );
  });

  it('issues no id that would not fit in a header', () => {
    const sealer = new SessionSealer('k');
    expect(sealer.seal({ ...session, initializeParams: 'x'.repeat(MAX_SEALED_ID_CHARS) })).toBeNull();
  });
});

describe('resolveHealKey', () => {
  it('prefers the configured key', async () => {
    expect(await resolveHealKey('configured-secret', '/nonexistent/never-created')).toBe('configured-secret');
  });

  it('generates a key once, 0600 in a 0700 folder, and reads the same key back', async () => {
    const home = join(mkdtempSync(join(tmpdir(), 'heal-key-')), 'home');
    const first = (await resolveHealKey(undefined, home)) as Buffer;
    expect(first.length).toBe(32);
    expect(await resolveHealKey(undefined, home)).toEqual(first);
    expect(Buffer.from(readFileSync(join(home, 'heal.key'), 'utf8').trim(), 'base64')).toEqual(first);
    expect(statSync(join(home, 'heal.key')).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });
});
