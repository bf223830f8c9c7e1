// The prober on legacy HTTP+SSE upstreams (SDK SSEClientTransport against the SDK's
// SSEServerTransport fixture and server-everything), and `transport: "auto"`.
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeMode } from '../src/config/schema.js';
import type { LegacySseUpstreamOptions } from '../src/demo/legacySseUpstream.js';
import { READ_ONLY_METHODS } from '../src/probe/readOnly.js';
import { STREAM_LIFETIME_NOTE, type UpstreamProbeResult } from '../src/probe/result.js';
import { type ProbeRunOptions, startProbeRun } from '../src/probe/run.js';
import type { ExchangeRecord, Observation } from '../src/sessions/types.js';
import { startServerEverything, upstreamPool } from './fixtures/upstreams.js';

const upstreams = upstreamPool();
afterEach(() => upstreams.closeAll());

async function probeLegacy(
  upstreamOptions: LegacySseUpstreamOptions,
  run: Omit<ProbeRunOptions, 'upstreams' | 'record'>,
  transport: 'sse' | 'auto' = 'sse',
) {
  const methods: string[] = [];
  const upstream = await upstreams.startLegacy({ ...upstreamOptions, onMethod: (m) => methods.push(m) });
  const observations: Observation[] = [];
  const result = await startProbeRun({
    upstreams: [{ id: 'legacy', url: upstream.url, headers: {}, timeoutSeconds: 5, transport }],
    record: (o) => observations.push(o),
    ...run,
  }).done;
  const exchanges = observations.flatMap((o) =>
    o.type === 'exchange' ? [o.exchange] : [],
  ) as ExchangeRecord[];
  return { result, only: result.results[0]!, exchanges, methods, upstream };
}

const gaps = (u: UpstreamProbeResult) =>
  u.checkpoints.map((c) => [c.idleSecondsTarget, c.success, c.errorType] as const);

describe('probe: legacy HTTP+SSE', () => {
  it('a fixture that closes idle streams after 2 s: fanout 1,3 → 1 survives, 3 finds the stream gone at ~2 s', async () => {
    const { result, only, exchanges, upstream } = await probeLegacy(
      { idleStreamCloseMs: 2000 },
      { mode: 'fanout', intervalsSeconds: [1, 3] },
    );
    expect(result.status).toBe('done');
    expect(only.fatalError).toBeNull();
    expect(only.warnings).toContain(STREAM_LIFETIME_NOTE);
    expect(only.sessionIssued).toBe(true);
    expect(only.stateless).toBe(false);
    expect(only.validatesSessionIds).toBe(true);
    expect(gaps(only)).toEqual([
      [1, true, null],
      [3, false, 'session_expired'],
    ]);
    const expired = only.checkpoints[1]!;
    // The expiry is where the stream ended: ~2 s after the last call, not the 3 s target (a little
    // under 2 s: the upstream's countdown starts when the POST arrives, before its answer).
    expect(expired.elapsedSinceLastCallSeconds).toBeGreaterThan(1.8);
    expect(expired.elapsedSinceLastCallSeconds).toBeLessThan(2.3);
    // The window's edges are the measured gaps (a late timer lengthens the 1 s one a little).
    expect(only.window).toMatchObject({
      lowerSeconds: only.checkpoints[0]!.elapsedSinceLastCallSeconds,
      upperSeconds: expired.elapsedSinceLastCallSeconds,
    });
    expect(only.window!.lowerSeconds).toBeGreaterThanOrEqual(1);
    const expiries = exchanges.filter((e) => e.outcome === 'session_expired' && e.httpMethod === 'GET');
    expect(expiries).toHaveLength(1);
    expect(expiries[0]).toMatchObject({ transport: 'sse', source: 'probe', streamAttached: true });
    expect(upstream.stats.activeSessions()).toBe(0);
  }, 15_000);

  for (const mode of ['fanout', 'ladder', 'bisect'] as ProbeMode[]) {
    it(`${mode} works over legacy SSE and sends only read-only methods (scaled: streams close after 0.5 s)`, async () => {
      const { result, only, methods, exchanges } = await probeLegacy(
        { idleStreamCloseMs: 500 },
        { mode, intervalsSeconds: [0.1, 0.8], bisect: { budget: 3, minWindowSeconds: 0.1 } },
      );
      expect(result.status).toBe('done');
      expect(only.fatalError).toBeNull();
      expect(only.checkpoints[0]).toMatchObject({ idleSecondsTarget: 0.1, success: true });
      expect(only.checkpoints.some((c) => c.errorType === 'session_expired')).toBe(true);
      expect(only.window?.upperSeconds).toBeGreaterThan(0.45);
      expect(only.window?.upperSeconds).toBeLessThan(0.7);
      for (const m of methods) expect(m === 'GET' || READ_ONLY_METHODS.has(m)).toBe(true);
      expect(exchanges.every((e) => e.transport === 'sse' && e.source === 'probe')).toBe(true);
    }, 15_000);
  }

  it('search works over legacy SSE: the stream lifetime it is not told (1.5 s) lands in a window at most 1 s wide', async () => {
    const { result, only, methods } = await probeLegacy({ idleStreamCloseMs: 1500 }, { mode: 'search' });
    expect(result.status).toBe('done');
    expect(only.fatalError, String(only.fatalError)).toBeNull();
    expect(
      only.search?.stopReason,
      JSON.stringify(
        only.checkpoints.filter((c) => c.errorType !== null && c.errorType !== 'session_expired'),
      ),
    ).toBe('pinned');
    const w = only.search!.window;
    expect(w.lowerSeconds!).toBeLessThan(1.5);
    expect(w.upperSeconds!).toBeGreaterThanOrEqual(1.45);
    expect(w.upperSeconds! - w.lowerSeconds!).toBeLessThanOrEqual(1);
    for (const m of methods) expect(m === 'GET' || READ_ONLY_METHODS.has(m)).toBe(true);
  }, 30_000);

  it('--hold-stream --keepalive: the legacy stream counts as the held stream; pings keep it open', async () => {
    const { only, methods } = await probeLegacy(
      { idleStreamCloseMs: 1000 },
      { mode: 'fanout', intervalsSeconds: [0.2, 1.5], holdStream: true, keepaliveSeconds: 0.3 },
    );
    expect(only.fatalError).toBeNull();
    expect(only.warnings.filter((w) => w.includes('refused a standalone GET stream'))).toEqual([]);
    expect(only.checkpoints[0]).toMatchObject({ success: true, streamAttached: true });
    // Streams close after 1 s without POSTs; the keepalive session idles 1.5 s pinging every 0.3 s.
    expect(only.window?.upperSeconds).toBeLessThan(1.2);
    expect(only.keepalive).toMatchObject({ keptAlive: true, pingFailures: 0 });
    expect(only.keepalive!.idleSeconds).toBeGreaterThan(1.2);
    expect(methods).toContain('ping');
    for (const m of methods) expect(m === 'GET' || READ_ONLY_METHODS.has(m)).toBe(true);
  });

  it('transport auto detects the legacy-only fixture and probes it over SSE', async () => {
    const { only } = await probeLegacy({}, { mode: 'fanout', intervalsSeconds: [0.1] }, 'auto');
    expect(only.fatalError).toBeNull();
    expect(only.warnings).toContain(STREAM_LIFETIME_NOTE);
    expect(gaps(only)).toEqual([[0.1, true, null]]);
  });

  it('server-everything in sse mode: sessions open, tools are listed, checkpoints survive', async () => {
    const everything = await startServerEverything('sse');
    try {
      const result = await startProbeRun({
        upstreams: [
          { id: 'everything', url: everything.url, headers: {}, timeoutSeconds: 5, transport: 'sse' },
        ],
        record: () => {},
        mode: 'fanout',
        intervalsSeconds: [0.2],
      }).done;
      const only = result.results[0]!;
      expect(only.fatalError).toBeNull();
      expect(only.serverName).toBeTruthy();
      expect(only.toolsReturned).toBeGreaterThan(0);
      expect(gaps(only)).toEqual([[0.2, true, null]]);
    } finally {
      await everything.close();
    }
  }, 30_000);
});
