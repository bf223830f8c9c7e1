// Bisect against the real third-party servers with short idle timeouts (3 s):
// mcp-proxy sweeps its sessions every T (they die between T and 2T idle), supergateway runs
// an exact timer from the end of each response. The window must contain T in both cases, be
// flagged as overlapping for the sweeper, and be narrow for the exact timer.
import { afterAll, describe, expect, it } from 'vitest';
import { estimateLifetime } from '../src/analysis/lifetime.js';
import { startProbeRun } from '../src/probe/run.js';
import type { ExchangeRecord, Observation } from '../src/sessions/types.js';
import { startMcpProxy, startSupergateway, type ThirdPartyServer } from './fixtures/thirdParty.js';

const servers: ThirdPartyServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function bisect(
  url: string,
  options: { minWindowSeconds: number; budget: number; intervals: number[] },
) {
  const observations: Observation[] = [];
  const run = startProbeRun({
    upstreams: [{ id: 'third-party', url, headers: {}, timeoutSeconds: 5 }],
    mode: 'bisect',
    intervalsSeconds: options.intervals,
    bisect: { budget: options.budget, minWindowSeconds: options.minWindowSeconds, parallel: 3 },
    record: (o) => observations.push(o),
  });
  const result = await run.done;
  const exchanges = observations.flatMap((o) =>
    o.type === 'exchange' ? [o.exchange as ExchangeRecord] : [],
  );
  return { result, only: result.results[0]!, lifetime: estimateLifetime(exchanges, []) };
}

describe('bisect against real third-party servers (3 s idle)', () => {
  it('mcp-proxy (swept every 3 s) in two runs at once: lower edge ≤ 3 s < upper edge, overlap flagged; supergateway (exact 3 s): the window holds 3.0 s within 0.5 s', async () => {
    const [proxyServer, gateway] = await Promise.all([startMcpProxy(3000), startSupergateway(3000)]);
    servers.push(proxyServer, gateway);
    const sweeper = { minWindowSeconds: 1, budget: 9, intervals: [1, 2, 4, 7] };
    const [a, b, exact] = await Promise.all([
      bisect(proxyServer.url, sweeper),
      bisect(proxyServer.url, sweeper),
      bisect(gateway.url, { minWindowSeconds: 0.4, budget: 12, intervals: [1, 2, 5, 8] }),
    ]);
    for (const run of [a, b]) {
      expect(run.only.fatalError).toBeNull();
      const w = run.only.window!;
      const seen = run.only.checkpoints.map((c) => [c.elapsedSinceLastCallSeconds, c.success]);
      expect(w.lowerSeconds ?? 0, JSON.stringify(seen)).toBeLessThanOrEqual(3);
      expect(w.upperSeconds, JSON.stringify(seen)).not.toBeNull();
      expect(w.upperSeconds!, JSON.stringify(seen)).toBeGreaterThan(3);
      expect(w.overlapping, JSON.stringify(seen)).toBe(true);
      // The analysis over the same exchanges (measured gaps, not targets) keeps a pool below T.
      const ttl = (run.lifetime.idle.lowerMs ?? 0) / 2;
      expect(ttl / 1000).toBeLessThan(3);
    }
    const w = exact.only.window!;
    const seen = exact.only.checkpoints.map((c) => [c.elapsedSinceLastCallSeconds, c.success]);
    expect(exact.only.fatalError).toBeNull();
    expect(w.lowerSeconds!, JSON.stringify(seen)).toBeLessThan(3);
    expect(w.upperSeconds!, JSON.stringify(seen)).toBeGreaterThanOrEqual(3);
    expect(w.upperSeconds! - w.lowerSeconds!, JSON.stringify(seen)).toBeLessThanOrEqual(0.5);
    expect(w.overlapping).toBe(false);
  }, 90_000);
});
