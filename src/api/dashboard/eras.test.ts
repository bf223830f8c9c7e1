import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchangeRecord } from '../../../test/helpers/records.js';
import { openStore } from '../../store/index.js';
import type { ObservationStore } from '../../store/types.js';
import { dashboard } from './index.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
let dir: string;
let store: ObservationStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dashboard-eras-'));
  store = await openStore(`sqlite:${join(dir, 'probe.db')}`);
  await store.migrate();
  const upstream = (id: string) => ({
    id,
    name: id,
    url: 'https://mcp.example/mcp',
    transport: 'streamable-http',
    stateless: null,
    validatesSessionIds: null,
  });
  await store.upsertUpstreams([upstream('dual'), upstream('modern')]);
  const at = NOW - 60_000;
  const legacy = (upstream: string) =>
    exchangeRecord({
      upstream,
      era: '2025',
      protocolVersion: '2025-11-25',
      callerHash: 'aaaaaaaaaaaaaaaa',
      startedAt: at,
    });
  const modern = (upstream: string) =>
    exchangeRecord({
      upstream,
      sessionHash: null,
      era: '2026',
      protocolVersion: '2026-07-28',
      upstreamVersions: '2026-07-28',
      callerHash: 'bbbbbbbbbbbbbbbb',
      startedAt: at,
      responseAt: at + 25,
      endedAt: at + 26,
    });
  await store.write([
    { type: 'exchange', exchange: legacy('dual') },
    { type: 'exchange', exchange: modern('dual') },
    { type: 'exchange', exchange: modern('modern') },
  ]);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const app = () => dashboard({ store, now: () => NOW });

describe('the eras on the dashboard', () => {
  it('shows each upstream era on the overview', async () => {
    const html = await (await app().request('/')).text();
    expect(html).toContain('data-era="both"');
    expect(html).toContain('both eras');
    expect(html).toContain('sessionless (2026)');
    expect(html).toContain('no sessions (sessionless)');
  });

  it('splits the answer per era and lists the callers per revision on the upstream page', async () => {
    const html = await (await app().request('/upstreams/dual')).text();
    expect(html).toContain('Protocol eras');
    expect(html).toContain('data-era="2025"');
    expect(html).toContain('data-era="2026"');
    expect(html).toContain('sessions do not exist there');
    expect(html).toContain('aaaaaaaaaaaaaaaa');
    expect(html).toContain('bbbbbbbbbbbbbbbb');
    const modern = await (await app().request('/upstreams/modern')).text();
    expect(modern).toContain('sessionless (2026)');
    expect(modern).not.toContain('One answer per era');
  });
});
